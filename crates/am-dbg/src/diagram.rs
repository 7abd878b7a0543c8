//! `am-dbg diagram`: a machine's schema — its states (auto and multi marked, grouped as the
//! schema groups them) and their relations — as a picture, optionally with the states active
//! after one transition filled in. Three outputs: mermaid (a flowchart GitHub and
//! mermaid.live render), d2, and an SVG drawn here as an arc diagram (states stacked in
//! schema order, each relation an arc on the right, coloured by kind), so no tool is needed.

use std::fmt::Write as _;

use am_dbg_proto::DbgMsgStruct;

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A mermaid flowchart.
    Mermaid,
    /// A d2 diagram.
    D2,
    /// An SVG image.
    Svg,
}

impl Format {
    /// From its name.
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "mermaid" | "mmd" => Some(Format::Mermaid),
            "d2" => Some(Format::D2),
            "svg" => Some(Format::Svg),
            _ => None,
        }
    }
}

/// One relation: the state holding it, its kind, the state it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    /// Index of the state holding the relation.
    pub from: usize,
    /// Index of the state it names.
    pub to: usize,
    /// `require`, `add`, `remove` or `after`.
    pub kind: &'static str,
}

/// Every relation of a schema, in state order then require, add, remove, after.
pub fn edges(s: &DbgMsgStruct) -> Vec<Edge> {
    let idx = |n: &str| s.states_index.iter().position(|x| x == n);
    let mut out = Vec::new();
    for (from, name) in s.states_index.iter().enumerate() {
        let Some(def) = s.states.get(name) else { continue };
        for (kind, list) in
            [("require", &def.require), ("add", &def.add), ("remove", &def.remove), ("after", &def.after)]
        {
            for to in list.iter().filter_map(|n| idx(n)) {
                // a state removing itself is Go's way of saying "one of a group": not a line
                if to != from {
                    out.push(Edge { from, to, kind });
                }
            }
        }
    }
    out
}

fn label(s: &DbgMsgStruct, i: usize) -> String {
    let name = &s.states_index[i];
    let def = s.states.get(name);
    let marks: Vec<&str> = [(def.is_some_and(|d| d.auto), "auto"), (def.is_some_and(|d| d.multi), "multi")]
        .into_iter()
        .filter_map(|(on, m)| on.then_some(m))
        .collect();
    if marks.is_empty() { name.clone() } else { format!("{name} ({})", marks.join(", ")) }
}

/// The group each state is drawn in (the first that lists it).
fn group_of(s: &DbgMsgStruct) -> Vec<Option<String>> {
    let mut out = vec![None; s.states_index.len()];
    let order = s.groups_order.iter().chain(s.groups.keys().filter(|k| !s.groups_order.contains(k)));
    for g in order {
        for &i in s.groups.get(g).into_iter().flatten() {
            if let Some(slot) = usize::try_from(i).ok().and_then(|i| out.get_mut(i))
                && slot.is_none()
            {
                *slot = Some(g.clone());
            }
        }
    }
    out
}

fn esc(s: &str) -> String {
    s.replace('"', "'")
}

/// A mermaid flowchart: `--o` require, `-->` add, `--x` remove, `-.->` after; groups as
/// subgraphs; active states in the `active` class.
pub fn mermaid(s: &DbgMsgStruct, active: Option<&[bool]>) -> String {
    let mut out = format!("%% {} — am-dbg diagram\nflowchart LR\n", esc(&s.id));
    out.push_str("    classDef active fill:#2e7d32,color:#fff,stroke:#1b5e20\n");
    let groups = group_of(s);
    let mut done = vec![false; s.states_index.len()];
    let order = s.groups_order.iter().chain(s.groups.keys().filter(|k| !s.groups_order.contains(k)));
    for g in order {
        let members: Vec<usize> = (0..groups.len()).filter(|&i| groups[i].as_deref() == Some(g.as_str())).collect();
        if members.is_empty() {
            continue;
        }
        let _ =
            writeln!(out, "    subgraph g_{}[\"{}\"]", g.replace(|c: char| !c.is_ascii_alphanumeric(), "_"), esc(g));
        for i in members {
            let _ = writeln!(out, "        s{i}([\"{}\"])", esc(&label(s, i)));
            done[i] = true;
        }
        out.push_str("    end\n");
    }
    for i in (0..done.len()).filter(|&i| !done[i]) {
        let _ = writeln!(out, "    s{i}([\"{}\"])", esc(&label(s, i)));
    }
    for e in edges(s) {
        let arrow = match e.kind {
            "require" => "--o",
            "add" => "-->",
            "remove" => "--x",
            _ => "-.->",
        };
        let _ = writeln!(out, "    s{} {arrow}|{}| s{}", e.from, e.kind, e.to);
    }
    let on: Vec<String> =
        active.unwrap_or(&[]).iter().enumerate().filter(|(_, a)| **a).map(|(i, _)| format!("s{i}")).collect();
    if !on.is_empty() {
        let _ = writeln!(out, "    class {} active", on.join(","));
    }
    out
}

/// A d2 diagram: groups as containers, relations labelled, remove red, after dashed.
pub fn d2(s: &DbgMsgStruct, active: Option<&[bool]>) -> String {
    let groups = group_of(s);
    let path = |i: usize| {
        let name = format!("\"{}\"", esc(&s.states_index[i]));
        match &groups[i] {
            Some(g) => format!("\"{}\".{name}", esc(g)),
            None => name,
        }
    };
    let mut out = format!("# {} — am-dbg diagram\ndirection: right\n", esc(&s.id));
    for i in 0..s.states_index.len() {
        let _ = writeln!(out, "{}: \"{}\"", path(i), esc(&label(s, i)));
        if active.is_some_and(|a| a.get(i).copied().unwrap_or(false)) {
            let _ = writeln!(out, "{}.style.fill: \"#2e7d32\"\n{}.style.font-color: \"#ffffff\"", path(i), path(i));
        }
    }
    for e in edges(s) {
        let style = match e.kind {
            "remove" => " {style.stroke: \"#c62828\"}",
            "after" => " {style.stroke-dash: 3}",
            "require" => " {target-arrowhead.shape: circle}",
            _ => "",
        };
        let _ = writeln!(out, "{} -> {}: {}{style}", path(e.from), path(e.to), e.kind);
    }
    out
}

/// An SVG arc diagram.
pub fn svg(s: &DbgMsgStruct, active: Option<&[bool]>) -> String {
    const ROW: usize = 34;
    const BOX_W: usize = 220;
    const X: usize = 20;
    const TOP: usize = 60;
    let n = s.states_index.len();
    let es = edges(s);
    let reach = es.iter().map(|e| e.from.abs_diff(e.to)).max().unwrap_or(0);
    let (w, h) = (X + BOX_W + 60 + reach * 18 + 40, TOP + n * ROW + 30);
    let color = |k: &str| match k {
        "require" => "#1565c0",
        "add" => "#2e7d32",
        "remove" => "#c62828",
        _ => "#757575",
    };
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"monospace\" font-size=\"13\">\n"
    );
    out.push_str("<defs>\n");
    for k in ["require", "add", "remove", "after"] {
        let _ = writeln!(
            out,
            "  <marker id=\"m-{k}\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"{}\"/></marker>",
            color(k)
        );
    }
    out.push_str("</defs>\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");
    let _ = writeln!(out, "<text x=\"{X}\" y=\"22\" font-weight=\"bold\">{}</text>", xml(&s.id));
    let mut lx = X;
    for k in ["require", "add", "remove", "after"] {
        let _ = writeln!(out, "<text x=\"{lx}\" y=\"44\" fill=\"{}\">— {k}</text>", color(k));
        lx += 90;
    }
    let y = |i: usize| TOP + i * ROW + ROW / 2;
    for i in 0..n {
        let on = active.is_some_and(|a| a.get(i).copied().unwrap_or(false));
        let (fill, ink) = if on { ("#2e7d32", "#ffffff") } else { ("#f5f5f5", "#212121") };
        let _ = writeln!(
            out,
            "<rect x=\"{X}\" y=\"{}\" width=\"{BOX_W}\" height=\"{}\" rx=\"6\" fill=\"{fill}\" stroke=\"#9e9e9e\"/><text x=\"{}\" y=\"{}\" fill=\"{ink}\">{}</text>",
            TOP + i * ROW + 4,
            ROW - 8,
            X + 10,
            y(i) + 5,
            xml(&label(s, i))
        );
    }
    let x0 = X + BOX_W;
    for e in &es {
        let bend = x0 + 30 + e.from.abs_diff(e.to) * 18;
        let dash = if e.kind == "after" { " stroke-dasharray=\"5,4\"" } else { "" };
        let _ = writeln!(
            out,
            "<path d=\"M{x0},{} C{bend},{} {bend},{} {x0},{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.6\"{dash} marker-end=\"url(#m-{})\"><title>{} {} {}</title></path>",
            y(e.from) - 4,
            y(e.from) - 4,
            y(e.to) + 4,
            y(e.to) + 4,
            color(e.kind),
            e.kind,
            xml(&s.states_index[e.from]),
            e.kind,
            xml(&s.states_index[e.to])
        );
    }
    out.push_str("</svg>\n");
    out
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The diagram in a format.
pub fn render(f: Format, s: &DbgMsgStruct, active: Option<&[bool]>) -> String {
    match f {
        Format::Mermaid => mermaid(s, active),
        Format::D2 => d2(s, active),
        Format::Svg => svg(s, active),
    }
}

#[cfg(test)]
mod tests {
    use am_dbg_proto::StateDef;

    use super::*;

    fn schema() -> DbgMsgStruct {
        let mut states = std::collections::BTreeMap::new();
        states.insert("A".to_string(), StateDef { auto: true, ..Default::default() });
        states.insert(
            "B".to_string(),
            StateDef { require: vec!["A".into()], remove: vec!["C".into(), "B".into()], ..Default::default() },
        );
        states
            .insert("C".to_string(), StateDef { add: vec!["A".into()], after: vec!["B".into()], ..Default::default() });
        DbgMsgStruct {
            id: "m".into(),
            states_index: vec!["A".into(), "B".into(), "C".into()],
            states,
            groups: [("bc".to_string(), vec![1, 2])].into(),
            ..Default::default()
        }
    }

    #[test]
    fn mermaid_draws_every_relation_with_its_arrow_and_the_active_states() {
        let m = mermaid(&schema(), Some(&[true, false, true]));
        assert!(m.contains("flowchart LR\n"), "{m}");
        assert!(m.contains("    s0([\"A (auto)\"])"), "{m}");
        assert!(m.contains("    subgraph g_bc[\"bc\"]\n        s1([\"B\"])\n        s2([\"C\"])\n    end"), "{m}");
        for edge in ["s1 --o|require| s0", "s1 --x|remove| s2", "s2 -->|add| s0", "s2 -.->|after| s1"] {
            assert!(m.contains(edge), "{edge}:\n{m}");
        }
        assert!(!m.contains("s1 --x|remove| s1"), "no line for a state removing itself");
        assert!(m.ends_with("    class s0,s2 active\n"), "{m}");
    }

    #[test]
    fn d2_and_svg_have_every_state_and_relation() {
        let d = d2(&schema(), None);
        assert!(d.contains("\"bc\".\"B\" -> \"A\": require {target-arrowhead.shape: circle}"), "{d}");
        let s = svg(&schema(), Some(&[false, true, false]));
        assert!(s.starts_with("<svg ") && s.ends_with("</svg>\n"));
        assert_eq!(s.matches("fill=\"none\"").count(), 4, "an arc per relation:\n{s}");
        assert!(s.contains("<title>B require A</title>") && s.contains("fill=\"#2e7d32\""), "{s}");
    }
}
