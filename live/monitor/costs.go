package monitor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/tarsopt/tarsopt/money"
)

// day is one UTC day of costs, exact.
type day struct {
	calls    int64
	cost     money.Amount
	baseline money.Amount
	byModel  map[string]*modelDay
}

type modelDay struct {
	calls int64
	cost  money.Amount
}

// CostsJSON is the content of costs.json.
type CostsJSON struct {
	Days []DayJSON `json:"days"`
}

// DayJSON is one UTC day of costs.json. Money is an exact decimal string of dollars, as
// money.Amount.String prints it and money.ParseAmount reads it.
type DayJSON struct {
	Date      string               `json:"date"` // YYYY-MM-DD, UTC, of the calls' Done
	Calls     int64                `json:"calls"`
	CostUSD   string               `json:"cost_usd"`
	Baseline  string               `json:"baseline_cost_usd"`
	SavingUSD string               `json:"saving_usd"` // baseline − cost
	Reduction float64              `json:"reduction"`  // 1 − cost/baseline (0 without baseline)
	ByModel   map[string]ModelJSON `json:"by_model"`   // model the calls were sent to
}

// ModelJSON is one model's share of a day.
type ModelJSON struct {
	Calls   int64  `json:"calls"`
	CostUSD string `json:"cost_usd"`
}

func dayOf(t time.Time) int64 {
	s := t.Unix()
	d := s / 86400
	if s < 0 && s%86400 != 0 {
		d--
	}
	return d
}

func dayDate(d int64) string { return time.Unix(d*86400, 0).UTC().Format(time.DateOnly) }

// loadCosts reads path into days; a missing file is no error.
func loadCosts(path string, days map[int64]*day) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var f CostsJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	parse := func(where, s string) (money.Amount, error) {
		a, err := money.ParseAmount(s)
		if err != nil {
			return 0, fmt.Errorf("%s: %s: %w", path, where, err)
		}
		return a, nil
	}
	for i, dj := range f.Days {
		t, err := time.Parse(time.DateOnly, dj.Date)
		if err != nil {
			return fmt.Errorf("%s: days[%d].date: %w", path, i, err)
		}
		d := &day{calls: dj.Calls, byModel: map[string]*modelDay{}}
		if d.cost, err = parse(fmt.Sprintf("days[%d].cost_usd", i), dj.CostUSD); err != nil {
			return err
		}
		if d.baseline, err = parse(fmt.Sprintf("days[%d].baseline_cost_usd", i), dj.Baseline); err != nil {
			return err
		}
		for name, mj := range dj.ByModel {
			c, err := parse(fmt.Sprintf("days[%d].by_model.%s.cost_usd", i, name), mj.CostUSD)
			if err != nil {
				return err
			}
			d.byModel[name] = &modelDay{calls: mj.Calls, cost: c}
		}
		k := dayOf(t)
		if old, ok := days[k]; ok { // a day listed twice: add up
			old.calls += d.calls
			old.cost += d.cost
			old.baseline += d.baseline
			for name, md := range d.byModel {
				if om, ok := old.byModel[name]; ok {
					om.calls += md.calls
					om.cost += md.cost
				} else {
					old.byModel[name] = md
				}
			}
			continue
		}
		days[k] = d
	}
	return nil
}

// snapshotCosts copies days into the file's form, days in order.
func snapshotCosts(days map[int64]*day) CostsJSON {
	keys := make([]int64, 0, len(days))
	for k := range days {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	f := CostsJSON{Days: make([]DayJSON, 0, len(keys))}
	for _, k := range keys {
		d := days[k]
		dj := DayJSON{
			Date:      dayDate(k),
			Calls:     d.calls,
			CostUSD:   d.cost.String(),
			Baseline:  d.baseline.String(),
			SavingUSD: (d.baseline - d.cost).String(),
			ByModel:   make(map[string]ModelJSON, len(d.byModel)),
		}
		if d.baseline != 0 {
			dj.Reduction = ratio(int64(d.baseline-d.cost), int64(d.baseline))
		}
		for name, md := range d.byModel {
			dj.ByModel[name] = ModelJSON{Calls: md.calls, CostUSD: md.cost.String()}
		}
		f.Days = append(f.Days, dj)
	}
	return f
}

// writeCosts writes f to path atomically: a temporary file in the same directory, synced, then
// renamed over path.
func writeCosts(path string, f CostsJSON) error {
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
