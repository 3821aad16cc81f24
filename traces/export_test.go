package traces

// ValidateDetailed runs only the detailed checks of Validate, for tests that compare the two paths.
func ValidateDetailed(r *Record) *Error { return r.validateSlow() }
