//! Reading a service's `/metrics`.

use std::collections::HashMap;

/// Parses the text exposition: every sample line is `name{labels} value`. Returns
/// the sum of each metric name's samples, keyed by name and sorted label text.
pub fn parse(text: &str) -> HashMap<String, f64> {
    assert!(
        text.trim_end().ends_with("# EOF"),
        "OpenMetrics text ends with # EOF"
    );
    let mut samples = HashMap::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line {line}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line}"));
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad metric name in {line}"
        );
        if let Some(labels) = series.strip_prefix(name) {
            assert!(
                labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                "{line}"
            );
        }
        *samples.entry(series.to_owned()).or_insert(0.0) += value;
        *samples.entry(name.to_owned()).or_insert(0.0) += value;
    }
    samples
}

/// `GET {base}/metrics`, parsed with [`parse`].
pub async fn scrape(base: &str) -> HashMap<String, f64> {
    herald_common::telemetry::init_crypto();
    let response = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert!(response.status().is_success());
    parse(&response.text().await.unwrap())
}
