//! `am-otel` — OpenTelemetry traces and logs of asyncmachine machines.
#![warn(missing_docs)]
