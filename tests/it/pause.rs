//! Tests: pause.
