//! Uploads a generated dashboard file to Grafana (what `cargo xtask gen-dashboard --upload`
//! runs): finds or creates the folder, then saves the dashboard with overwrite.
//!
//! ```text
//! AM_GRAFANA_TOKEN=glsa_… cargo run -p am-grafana-gen --example upload -- \
//!     --file dashboards/am-demo.json [--folder asyncmachine] [--grafana-url http://localhost:3000]
//! ```
//!
//! The URL defaults to `AM_GRAFANA_URL`, the token to `AM_GRAFANA_TOKEN` then `GRAFANA_TOKEN`.

use std::process::ExitCode;

use am_grafana_gen::{DEFAULT_FOLDER, GrafanaClient, uid_for};

fn main() -> ExitCode {
    match run() {
        Ok(msg) => {
            println!("{msg}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("upload: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<String, Box<dyn std::error::Error>> {
    let mut file = None;
    let mut folder = DEFAULT_FOLDER.to_string();
    let mut url = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or_else(|| format!("`{a}` needs a value"));
        match a.as_str() {
            "--file" => file = Some(val()?),
            "--folder" => folder = val()?,
            "--grafana-url" | "-g" => url = Some(val()?),
            other => return Err(format!("unexpected argument `{other}`").into()),
        }
    }
    let file = file.ok_or("--file is required")?;
    let text = std::fs::read_to_string(&file).map_err(|e| format!("cannot read {file}: {e}"))?;
    let model: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{file} is not JSON: {e}"))?;
    let mut client = GrafanaClient::builder();
    if let Some(u) = url {
        client = client.url(u);
    }
    let client = client.build()?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let up = rt.block_on(client.upload_model(model, &folder, &uid_for(&folder)))?;
    Ok(format!("uploaded {file}: {}{} (uid {}, version {})", client.url(), up.url, up.uid, up.version))
}
