//! The unit rules applied where values leave the store (reads, raw streams, exports) and where
//! rollups sum them, kept in one place so every path serves the same numbers.

/// A stored VWC in (0, 1] is a fraction: served as percent. Applied once, per row, wherever
/// VWC leaves the store (reads, raw streams, and the rollups, which sum percent).
pub fn vwc_percent(v: Option<f64>) -> Option<f64> {
    v.map(|v| if v > 0.0 && v <= 1.0 { v * 100.0 } else { v })
}
