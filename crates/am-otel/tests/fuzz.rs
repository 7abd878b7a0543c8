//! Stable-toolchain fuzzing of am-otel's parsers of values from the environment (a parent
//! trace to join, the protocol, state filters). `AM_FUZZ_MS` sets the budget of each.

#[test]
fn fuzz_trace_parents() {
    const HEX: &[u8] = b"0123456789abcdefABCDEF";
    am_testkit::fuzz("traceparent and trace IDs", |u| {
        // mostly well-formed pieces, sometimes anything
        fn hex(u: &mut am_testkit::arbitrary::Unstructured<'_>, n: usize) -> am_testkit::arbitrary::Result<String> {
            (0..n).map(|_| Ok(char::from(*u.choose(HEX)?))).collect()
        }
        let (t, s, f) = (hex(u, 32)?, hex(u, 16)?, hex(u, 2)?);
        let v = match u.int_in_range(0..=3)? {
            0 => format!("00-{t}-{s}-{f}"),
            1 => format!("{}-{t}-{s}-{f}-{}", hex(u, 2)?, u.arbitrary::<&str>()?),
            2 => format!("00-{t}{}-{s}-{f}", u.arbitrary::<&str>()?),
            _ => u.arbitrary::<String>()?,
        };
        if let Some(sc) = am_otel::parse_traceparent(&v) {
            assert!(sc.is_valid() && sc.is_remote(), "{v:?}");
            assert_eq!(am_otel::parse_traceparent(&am_otel::child_env(&sc)[2].1).as_ref(), Some(&sc), "{v:?}");
        }
        let _ = am_otel::remote_parent(&t, u.arbitrary::<&str>()?);
        let _ = am_otel::Protocol::parse(u.arbitrary::<&str>()?);
        Ok(())
    });
}

#[test]
fn fuzz_state_filters() {
    am_testkit::fuzz("state filters", |u| {
        let names: Vec<String> = u.arbitrary()?;
        let re: &str = u.arbitrary()?;
        let mut f = am_otel::StateFilter::new().allow(names.clone()).skip(names.iter().take(1).cloned());
        if let Ok(g) = am_otel::StateFilter::new().skip_regex(re) {
            f = g;
        }
        let (m, s): (&str, &str) = (u.arbitrary()?, u.arbitrary()?);
        let _ = (f.skips_machine(m), f.allows(m, s));
        Ok(())
    });
}
