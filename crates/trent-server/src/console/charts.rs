//! Charts drawn on the server as inline SVG: no script, no remote service, nothing the
//! page's Content-Security-Policy would have to allow. Each chart has a text title and a
//! description for screen readers, and each bar its value as a tooltip (`<title>`).

use maud::{html, Markup};

const WIDTH: u32 = 640;
const BAR: u32 = 18;

/// Vertical bars over time: all requests, and the denied ones over them. `buckets`:
/// (label, all, denied), oldest first.
pub fn timeline(id: &str, title: &str, buckets: &[(String, u64, u64)]) -> Markup {
    let height = 160u32;
    let top = buckets.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let n = buckets.len().max(1) as u32;
    let slot = (WIDTH - 40) / n;
    let bar = slot.saturating_sub(2).max(1);
    let total: u64 = buckets.iter().map(|b| b.1).sum();
    let denied: u64 = buckets.iter().map(|b| b.2).sum();
    let scale = |v: u64| ((v as f64 / top as f64) * f64::from(height - 20)).round() as u32;
    html! {
        figure.chart id=(id) {
            figcaption { (title) " " span.muted { "(" (total) @if total == 1 { " request, " } @else { " requests, " } (denied) " denied)" } }
            svg role="img" aria-label=(format!("{title}: {total} requests, {denied} denied")) viewBox=(format!("0 0 {WIDTH} {}", height + 20)) width="100%" {
                line x1="38" y1=(height) x2=(WIDTH) y2=(height) stroke="#879596" {}
                text x="34" y="14" text-anchor="end" font-size="11" fill="#545b64" { (top) }
                text x="34" y=(height) text-anchor="end" font-size="11" fill="#545b64" { "0" }
                @for (i, (label, all, bad)) in buckets.iter().enumerate() {
                    @let x = 40 + i as u32 * slot;
                    @let h = scale(*all);
                    @let d = scale(*bad);
                    g {
                        title { (label) ": " (all) " requests, " (bad) " denied" }
                        rect x=(x) y=(height - h) width=(bar) height=(h) fill="#0a5ca8" {}
                        @if d > 0 { rect x=(x) y=(height - d) width=(bar) height=(d) fill="#b0231b" {} }
                    }
                }
                @if let (Some(first), Some(last)) = (buckets.first(), buckets.last()) {
                    text x="40" y=(height + 15) font-size="11" fill="#545b64" { (first.0) }
                    text x=(WIDTH) y=(height + 15) font-size="11" text-anchor="end" fill="#545b64" { (last.0) }
                }
            }
        }
    }
}

/// Horizontal bars, largest first: (label, value).
pub fn ranking(id: &str, title: &str, rows: &[(String, u64)], colour: &str) -> Markup {
    let top = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1);
    let label_width = 260u32;
    let height = (rows.len() as u32).max(1) * (BAR + 6);
    html! {
        figure.chart id=(id) {
            figcaption { (title) }
            @if rows.is_empty() {
                p.muted { "No requests." }
            } @else {
                svg role="img" aria-label=(title) viewBox=(format!("0 0 {WIDTH} {height}")) width="100%" {
                    @for (i, (label, value)) in rows.iter().enumerate() {
                        @let y = i as u32 * (BAR + 6);
                        @let w = ((*value as f64 / top as f64) * f64::from(WIDTH - label_width - 50)).round() as u32;
                        g {
                            title { (label) ": " (value) }
                            text x=(label_width - 6) y=(y + BAR - 4) text-anchor="end" font-size="12" fill="#16191f" { (shorten(label)) }
                            rect x=(label_width) y=(y) width=(w.max(1)) height=(BAR) fill=(colour) {}
                            text x=(label_width + w + 4) y=(y + BAR - 4) font-size="12" fill="#16191f" { (value) }
                        }
                    }
                }
            }
        }
    }
}

/// A label that fits its column (the full text is the bar's tooltip).
fn shorten(label: &str) -> String {
    const MAX: usize = 40;
    if label.chars().count() <= MAX {
        return label.to_owned();
    }
    let tail: String = label
        .chars()
        .rev()
        .take(MAX - 1)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("…{tail}")
}

/// The `n` largest counts, largest first (ties by name).
pub fn top(counts: std::collections::HashMap<String, u64>, n: usize) -> Vec<(String, u64)> {
    let mut rows: Vec<(String, u64)> = counts.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    rows.truncate(n);
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_inline_svg_with_text_for_screen_readers() {
        let t = timeline(
            "t",
            "Requests",
            &[("00:00".into(), 4, 1), ("01:00".into(), 2, 0)],
        )
        .into_string();
        assert!(t.contains("<svg") && t.contains("role=\"img\""), "{t}");
        assert!(t.contains("Requests: 6 requests, 1 denied"), "{t}");
        assert!(!t.contains("style=") && !t.contains("<script"), "{t}");
        let mut counts = std::collections::HashMap::new();
        counts.insert("Encrypt".to_owned(), 3);
        counts.insert("Decrypt".to_owned(), 5);
        counts.insert("Sign".to_owned(), 3);
        assert_eq!(
            top(counts, 2),
            [("Decrypt".to_owned(), 5), ("Encrypt".to_owned(), 3)]
        );
        assert!(shorten(&"x".repeat(50)).starts_with('…'));
        let r = ranking("r", "Top", &[("<b>".into(), 1)], "#000").into_string();
        assert!(r.contains("&lt;b&gt;"), "labels are escaped: {r}");
    }
}
