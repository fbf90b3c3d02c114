//! Test harness: a real Envoy and a recording upstream.
