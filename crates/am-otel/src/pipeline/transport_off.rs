//! Without any transport feature: every exporter is an error naming the feature to enable.

use super::*;

/// The exporter type of a build without transports; it has no values.
#[derive(Debug)]
pub(super) enum Disabled {}

impl SpanExporter for Disabled {
    async fn export(&self, _: Vec<opentelemetry_sdk::trace::SpanData>) -> OTelSdkResult {
        match *self {}
    }
}

impl LogExporter for Disabled {
    async fn export(&self, _: opentelemetry_sdk::logs::LogBatch<'_>) -> OTelSdkResult {
        match *self {}
    }
}

#[cfg(feature = "metrics")]
impl opentelemetry_sdk::metrics::exporter::PushMetricExporter for Disabled {
    async fn export(&self, _: &opentelemetry_sdk::metrics::data::ResourceMetrics) -> OTelSdkResult {
        match *self {}
    }
    fn force_flush(&self) -> OTelSdkResult {
        match *self {}
    }
    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        match *self {}
    }
    fn temporality(&self) -> opentelemetry_sdk::metrics::Temporality {
        match *self {}
    }
}

impl Export {
    pub(super) fn span_exporter(&self, _: &Arc<ExportRuntime>) -> Result<Disabled, Error> {
        Err(Error::TransportDisabled(self.protocol.feature()))
    }
    pub(super) fn log_exporter(&self, _: &Arc<ExportRuntime>) -> Result<Disabled, Error> {
        Err(Error::TransportDisabled(self.protocol.feature()))
    }
    #[cfg(feature = "metrics")]
    pub(super) fn metric_exporter(&self, _: &Arc<ExportRuntime>) -> Result<Disabled, Error> {
        Err(Error::TransportDisabled(self.protocol.feature()))
    }
    pub(super) fn traces_url(&self) -> String {
        String::new()
    }
}
