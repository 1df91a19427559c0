//! Reads the hub's Prometheus text (`GET /metrics`) for the counters a benchmark reports:
//! fetches it and finds one sample by name and labels. It knows the text format, not what
//! any family means.

use anyhow::{Context as _, bail};

/// The hub's `/metrics` text.
pub async fn fetch(client: &reqwest::Client, base_url: &str) -> anyhow::Result<Exposition> {
    let response = client
        .get(format!("{base_url}/metrics"))
        .send()
        .await
        .context("GET /metrics")?;
    let status = response.status();
    if !status.is_success() {
        bail!("GET /metrics answered {status}");
    }
    Ok(Exposition(
        response.text().await.context("reading /metrics")?,
    ))
}

/// One scrape of the text format.
#[derive(Debug, Clone, Default)]
pub struct Exposition(pub String);

impl Exposition {
    /// The value of sample `name` without labels; 0 when absent (a family nothing has
    /// touched yet).
    pub fn value(&self, name: &str) -> f64 {
        self.labelled(name, &[])
    }

    /// The value of sample `name{labels}` (exactly these labels, in the hub's order);
    /// 0 when absent.
    pub fn labelled(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let wanted = if labels.is_empty() {
            name.to_owned()
        } else {
            let pairs: Vec<String> = labels
                .iter()
                .map(|(key, value)| format!("{key}=\"{value}\""))
                .collect();
            format!("{name}{{{}}}", pairs.join(","))
        };
        self.0
            .lines()
            .filter(|line| !line.starts_with('#'))
            .find_map(|line| {
                let (series, value) = line.rsplit_once(' ')?;
                (series == wanted).then(|| value.parse().ok())?
            })
            .unwrap_or(0.0)
    }

    /// Every sample of family `name` with a `label`: (label value, value), in text order.
    pub fn by_label(&self, name: &str, label: &str) -> Vec<(String, f64)> {
        let prefix = format!("{name}{{{label}=\"");
        self.0
            .lines()
            .filter_map(|line| {
                let rest = line.strip_prefix(&prefix)?;
                let (label_value, rest) = rest.split_once('"')?;
                let value = rest.rsplit_once(' ')?.1.parse().ok()?;
                Some((label_value.to_owned(), value))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP hub_readings_persisted Readings newly stored.\n\
        # TYPE hub_readings_persisted counter\n\
        hub_readings_persisted_total 1200\n\
        hub_mqtt_messages_total{kind=\"telemetry\"} 1180\n\
        hub_mqtt_messages_total{kind=\"status\"} 40\n\
        hub_mqtt_rejected_total{reason=\"duplicate\"} 3\n\
        hub_mqtt_rejected_total{reason=\"bad_json\"} 0\n";

    #[test]
    fn samples_are_found_by_name_and_labels_and_absent_ones_read_zero() {
        let text = Exposition(TEXT.to_owned());
        assert_eq!(text.value("hub_readings_persisted_total"), 1200.0);
        assert_eq!(
            text.labelled("hub_mqtt_messages_total", &[("kind", "telemetry")]),
            1180.0
        );
        assert_eq!(text.value("hub_mqtt_drained_total"), 0.0);
        assert_eq!(text.value("hub_readings_persisted"), 0.0);
    }

    #[test]
    fn a_family_is_listed_by_its_label() {
        let text = Exposition(TEXT.to_owned());
        assert_eq!(
            text.by_label("hub_mqtt_rejected_total", "reason"),
            [("duplicate".to_owned(), 3.0), ("bad_json".to_owned(), 0.0)]
        );
    }
}
