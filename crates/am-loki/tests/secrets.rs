//! Credentials reach the server and nowhere else: not in `Debug` output, error messages or
//! the crate's own log lines.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use am_core::{LogLevel, Machine, Schema};
use am_loki::LokiTracer;
use am_testkit::loki::Receiver;

const USER: &str = "loki-user";
const PASSWORD: &str = "s3cr3t-Pa55";
/// base64("loki-user:s3cr3t-Pa55")
const BASIC: &str = "Basic bG9raS11c2VyOnMzY3IzdC1QYTU1";
const TOKEN: &str = "tok-9f8e7d6c5b4a";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn assert_clean(what: &str, text: &str) {
    for secret in [PASSWORD, TOKEN, BASIC, &BASIC[6..]] {
        assert!(!text.contains(secret), "{what} leaks {secret:?}: {text}");
    }
}

#[test]
fn credentials_stay_out_of_debug_errors_and_logs() {
    let logs = Captured::default();
    let w = logs.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_writer(move || w.clone()).finish(),
    )
    .unwrap();

    let schema = Schema::builder().states(["A"]).build().unwrap();
    for (basic, scenario_status) in [(true, 400u16), (true, 401), (false, 400), (false, 403), (true, 500)] {
        let r = Receiver::start();
        // a server that echoes what it got must not make us log it
        let echo =
            if basic { format!("denied for {USER}:{PASSWORD} / {BASIC}") } else { format!("denied: Bearer {TOKEN}") };
        r.set_reply_body(&echo);
        r.set_default_status(scenario_status);
        let b = LokiTracer::builder()
            .addr(r.addr())
            .service("svc")
            .tenant("tenant-1")
            .max_retries(1)
            .backoff(Duration::from_millis(5), Duration::from_millis(5))
            .batch_interval(Duration::from_millis(10));
        let b = if basic { b.basic_auth(USER, PASSWORD) } else { b.bearer_token(TOKEN) };
        assert_clean("builder Debug", &format!("{b:?}"));
        let loki = b.build().unwrap();
        assert_clean("tracer Debug", &format!("{loki:?} {loki:#?}"));
        let m = Machine::builder(schema.clone()).log_level(LogLevel::Changes).tracer(loki.clone()).build();
        m.add(&["A"]).unwrap();
        assert!(r.wait_until(Duration::from_secs(10), |_| {
            let s = loki.stats();
            s.rejected + s.failed == 1
        }));
        loki.shutdown();
        let reqs = r.requests();
        assert!(!reqs.is_empty());
        for q in reqs {
            assert_eq!(q.tenant.as_deref(), Some("tenant-1"));
            let expected = if basic { BASIC.to_string() } else { format!("Bearer {TOKEN}") };
            assert_eq!(q.authorization.as_deref(), Some(expected.as_str()));
        }
    }
    let text = logs.text();
    assert!(text.contains("HTTP 400") && text.contains("HTTP 401") && text.contains("HTTP 500"), "{text}");
    assert!(text.contains("***"), "the echoed password is shown redacted: {text}");
    assert_clean("log output", &text);

    // an address carrying credentials is refused, without repeating them
    let e = LokiTracer::builder().addr(format!("https://{USER}:{PASSWORD}@logs.example.com")).service("s").build();
    let e = e.unwrap_err();
    assert_clean("error", &format!("{e} {e:?}"));
    assert!(e.to_string().contains("logs.example.com"));
    let _ = std::io::stderr().flush();
}
