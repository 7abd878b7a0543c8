//! Stable-toolchain fuzzing of the generator's input: machine IDs (from `--ids` and the
//! environment) and names. Whatever they are, the generator refuses them or writes JSON that
//! parses and alert rules that name every machine. `AM_FUZZ_MS` sets the budget.

use am_grafana_gen::Dashboard;

#[test]
fn fuzz_machine_ids() {
    am_testkit::fuzz("dashboard machine IDs", |u| {
        let ids: Vec<String> = u.arbitrary()?;
        let mut b = Dashboard::for_machines(&ids);
        if u.arbitrary()? {
            b = b.name(u.arbitrary::<String>()?);
        }
        if u.arbitrary()? {
            b = b.source(u.arbitrary::<String>()?);
        }
        let Ok(d) = b.build() else { return Ok(()) };
        let json: serde_json::Value = serde_json::from_str(&d.to_json_string()).expect("the dashboard is JSON");
        assert!(json["panels"].is_array());
        let _ = d.alert_rules_yaml();
        assert_eq!(d.ids().len(), ids.len());
        Ok(())
    });
}
