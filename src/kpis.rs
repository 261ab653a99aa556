//! `--kpis`: the ratios people compute from an aggregate row, as derived columns.
//!
//! Each KPI is one division of two stats of the entity, scaled: the formulas Genesys
//! documents (see `docs/kpis.md` for each source). A KPI is only in a row whose entity has
//! both of its inputs; a zero (or non-finite) quotient's denominator gives null, never
//! `inf` or `NaN`. Inputs are read from the entity before `--stats` filters its columns,
//! so `--stats count` still gets `aht_s`.

use crate::columns::api_stat_name;
use crate::pages::Entity;

/// One derived column: `numerator / denominator / divisor`.
#[derive(Debug)]
pub struct Kpi {
    /// The column name.
    pub name: &'static str,
    /// The numerator's metric and stat.
    pub numerator: (&'static str, &'static str),
    /// The denominator's metric and stat.
    pub denominator: (&'static str, &'static str),
    /// What the quotient is divided by: 1000 turns milliseconds into seconds.
    pub divisor: f64,
}

impl Kpi {
    /// The formula, for error messages and docs: `tHandle_sum / tHandle_count / 1000`.
    pub fn formula(&self) -> String {
        let (nm, ns) = self.numerator;
        let (dm, ds) = self.denominator;
        let scale = if self.divisor == 1.0 {
            String::new()
        } else {
            format!(" / {}", self.divisor)
        };
        format!("{nm}_{ns} / {dm}_{ds}{scale}")
    }
}

const fn kpi(
    name: &'static str,
    numerator: (&'static str, &'static str),
    denominator: (&'static str, &'static str),
    divisor: f64,
) -> Kpi {
    Kpi {
        name,
        numerator,
        denominator,
        divisor,
    }
}

/// Every KPI, in column order.
pub const KPIS: [Kpi; 8] = [
    kpi("aht_s", ("tHandle", "sum"), ("tHandle", "count"), 1000.0),
    kpi("asa_s", ("tAnswered", "sum"), ("tAnswered", "count"), 1000.0),
    kpi("answer_rate", ("tAnswered", "count"), ("nOffered", "count"), 1.0),
    kpi("abandon_rate", ("tAbandon", "count"), ("nOffered", "count"), 1.0),
    kpi(
        "service_level",
        ("oServiceLevel", "numerator"),
        ("oServiceLevel", "denominator"),
        1.0,
    ),
    kpi(
        "avg_talk_s",
        ("tTalkComplete", "sum"),
        ("tTalkComplete", "count"),
        1000.0,
    ),
    kpi(
        "avg_hold_s",
        ("tHeldComplete", "sum"),
        ("tHeldComplete", "count"),
        1000.0,
    ),
    kpi("avg_acw_s", ("tAcw", "sum"), ("tAcw", "count"), 1000.0),
];

/// The KPI values of one entity, reused from entity to entity.
#[derive(Debug, Default)]
pub struct Values {
    /// Per KPI (as [`KPIS`]): its inputs' values as far as found.
    inputs: [(Option<f64>, Option<f64>); KPIS.len()],
    /// The rendered values of the KPIs of the last entity, back to back.
    text: String,
    /// Per KPI of the last entity present: its index in [`KPIS`] and its value's range in
    /// `text` (`None`: null).
    present: Vec<(usize, Option<std::ops::Range<usize>>)>,
}

impl Values {
    /// Computes the KPIs of `e` (API shape only: the tutorial's metrics are not these).
    pub fn compute(&mut self, e: &Entity<'_>) {
        self.inputs = Default::default();
        self.text.clear();
        self.present.clear();
        for m in e.metrics.iter().filter(|m| !m.view && m.qualifier.is_none()) {
            // Most metrics feed no KPI: skip them before looking at their stats.
            if !KPIS
                .iter()
                .any(|k| k.numerator.0 == m.name || k.denominator.0 == m.name)
            {
                continue;
            }
            for s in &e.stats[m.stats.clone()] {
                let Some(value) = s.value.as_deref().and_then(|v| v.parse::<f64>().ok()) else {
                    continue;
                };
                let stat = api_stat_name(&s.name);
                for (k, inputs) in KPIS.iter().zip(&mut self.inputs) {
                    if k.numerator == (&*m.name, stat) {
                        inputs.0 = Some(value);
                    }
                    if k.denominator == (&*m.name, stat) {
                        inputs.1 = Some(value);
                    }
                }
            }
        }
        for (at, (k, inputs)) in KPIS.iter().zip(&self.inputs).enumerate() {
            let (Some(numerator), Some(denominator)) = *inputs else {
                continue;
            };
            let value = numerator / denominator / k.divisor;
            let range = (denominator != 0.0 && value.is_finite()).then(|| {
                let start = self.text.len();
                use std::fmt::Write;
                let _ = write!(self.text, "{value}");
                start..self.text.len()
            });
            self.present.push((at, range));
        }
    }

    /// Whether the last entity computed has the inputs of `KPIS[at]`.
    pub fn has(&self, at: usize) -> bool {
        self.present.iter().any(|&(kpi, _)| kpi == at)
    }

    /// The KPIs of the last entity computed, in [`KPIS`] order: each one's index in [`KPIS`] and its value as
    /// JSON number text, `None` for null.
    pub fn present(&self) -> impl Iterator<Item = (usize, Option<&str>)> {
        self.present
            .iter()
            .map(|(at, range)| (*at, range.clone().map(|r| &self.text[r])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_read_as_documented() {
        assert_eq!(KPIS[0].formula(), "tHandle_sum / tHandle_count / 1000");
        assert_eq!(KPIS[3].formula(), "tAbandon_count / nOffered_count");
    }
}
