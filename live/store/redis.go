package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisNamespace prefixes every key the store writes to Redis.
const redisNamespace = "tarsopt:"

// redisPingTimeout bounds the connectivity check in OpenRedis.
const redisPingTimeout = 5 * time.Second

// redisScanCount is the COUNT hint for SCAN (keys examined per round trip).
const redisScanCount = 1000

type redisStore struct {
	c      *redis.Client
	name   string // URL without password, for errors
	closed atomic.Bool
}

// OpenRedis connects to the Redis server at url, of the form
// "redis://[user:password@]host:port/db" ("rediss://" for TLS; go-redis's
// query options such as ?dial_timeout=3s are accepted). Keys are stored under
// the "tarsopt:" namespace; expiry uses Redis TTLs (millisecond resolution,
// the server's clock). Scan visits keys in no particular order. OpenRedis
// pings the server and fails if it does not answer within 5 s. Error
// messages name the URL without its password.
func OpenRedis(url string) (Store, error) {
	name, err := redisName(url)
	if err != nil {
		return nil, err
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("store: redis URL %s: %v", name, err)
	}
	c := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), redisPingTimeout)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("store: redis %s: %v", name, scrub(err, opts.Password))
	}
	return &redisStore{c: c, name: name}, nil
}

// redisName returns rawURL without password or query, for error messages.
func redisName(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// *url.Error quotes the whole URL, password and all; keep only the reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("store: invalid redis URL: %v", err)
	}
	return redactURL(u), nil
}

// scrub removes any occurrence of password from err's message.
func scrub(err error, password string) string {
	msg := err.Error()
	if password != "" {
		msg = strings.ReplaceAll(msg, password, "xxxxx")
	}
	return msg
}

func (s *redisStore) wrapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, redis.ErrClosed) {
		return ErrClosed
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("store: redis %s: %w", s.name, err)
}

// redisTTL converts ttl to what SET PX accepts: whole milliseconds, at least 1.
func redisTTL(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		return 0
	}
	return max(ttl.Round(time.Millisecond), time.Millisecond)
}

func (s *redisStore) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if s.closed.Load() {
		return nil, false, ErrClosed
	}
	val, err := s.c.Get(ctx, redisNamespace+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, s.wrapErr(err)
	}
	return val, true, nil // go-redis returns a fresh slice
}

func (s *redisStore) Put(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	if err := checkPut(key, ttl); err != nil {
		return err
	}
	if s.closed.Load() {
		return ErrClosed
	}
	return s.wrapErr(s.c.Set(ctx, redisNamespace+key, val, redisTTL(ttl)).Err())
}

func (s *redisStore) Delete(ctx context.Context, key string) error {
	if s.closed.Load() {
		return ErrClosed
	}
	return s.wrapErr(s.c.Del(ctx, redisNamespace+key).Err())
}

// writeBatch sends ops in one pipeline (not a transaction: each command is
// atomic on its own, which is all a cache needs).
func (s *redisStore) writeBatch(ctx context.Context, ops []op) error {
	if s.closed.Load() {
		return ErrClosed
	}
	now := time.Now()
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, o := range ops {
			k := redisNamespace + o.key
			var ttl time.Duration
			if o.exp != 0 {
				ttl = time.Unix(0, o.exp).Sub(now)
				if ttl <= 0 {
					p.Del(ctx, k) // already expired: the put's effect is "absent"
					continue
				}
			}
			if o.del {
				p.Del(ctx, k)
			} else {
				p.Set(ctx, k, o.val, redisTTL(ttl))
			}
		}
		return nil
	})
	return s.wrapErr(err)
}

// globEscape escapes Redis glob metacharacters so s matches only itself.
func globEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func (s *redisStore) Scan(ctx context.Context, prefix string, fn func(key string, val []byte) bool) error {
	if s.closed.Load() {
		return ErrClosed
	}
	full := redisNamespace + prefix
	match := globEscape(full) + "*"
	seen := make(map[string]struct{}) // SCAN may return a key more than once
	var cursor uint64
	for {
		keys, next, err := s.c.Scan(ctx, cursor, match, redisScanCount).Result()
		if err != nil {
			return s.wrapErr(err)
		}
		var fresh []string
		for _, k := range keys {
			if _, dup := seen[k]; dup || !strings.HasPrefix(k, full) {
				continue
			}
			seen[k] = struct{}{}
			fresh = append(fresh, k)
		}
		if len(fresh) > 0 {
			vals, err := s.c.MGet(ctx, fresh...).Result()
			if err != nil {
				return s.wrapErr(err)
			}
			for i, v := range vals {
				str, ok := v.(string)
				if !ok {
					continue // expired or deleted since SCAN saw it
				}
				if !fn(strings.TrimPrefix(fresh[i], redisNamespace), []byte(str)) {
					return nil
				}
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

func (s *redisStore) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.wrapErr(s.c.Close())
}
