//! Tests: tracing_events.
