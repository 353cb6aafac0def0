//! A readable account of one extraction: the container and its ancestors, then every block
//! with its class, value, boilerplate bits (and which element set them), where it lies (in the
//! best subtree, in the container it was widened to, or outside both) and verdict.

use std::fmt::Write;

use super::blocks::Segmented;
use super::dom::{Dom, Id, NONE};
use super::select::Selection;

/// An element as `<tag id=.. class=..>#id`.
fn describe(dom: &Dom, id: Id) -> String {
    match dom.node(id).element() {
        Some(e) => format!(
            "<{} id={:?} class={:?}>#{id}",
            &*e.name.local,
            e.attr("id").unwrap_or(""),
            e.attr("class").unwrap_or("")
        ),
        None => format!("#{id}"),
    }
}

/// Appends the account of `sel` over `seg` to `out`.
pub fn report(dom: &Dom, seg: &Segmented, sel: &Selection, out: &mut String) {
    let _ = writeln!(out, "container {}", describe(dom, sel.container));
    let mut anc = dom.node(sel.container).parent;
    while anc != NONE {
        let _ = writeln!(out, "  in {}", describe(dom, anc));
        anc = dom.node(anc).parent;
    }
    if sel.classes.len() != seg.blocks.len() {
        return;
    }
    for (i, b) in seg.blocks.iter().enumerate() {
        let verdict = if sel.main.contains(&i) {
            "KEEP"
        } else if sel.comments.contains(&i) {
            "COMM"
        } else {
            "drop"
        };
        let t: String = b.text.chars().take(2000).collect();
        let pre = seg.info[b.owner as usize].pre;
        let within = |id: Id| {
            let f = &seg.info[id as usize];
            pre >= f.pre && pre < f.end
        };
        let region = if within(sel.core) {
            "core"
        } else if within(sel.container) {
            "wide"
        } else {
            "out"
        };
        let mut why = String::new();
        if sel.eff[b.owner as usize] != 0 {
            let mut a = b.owner;
            while a != NONE {
                let p = dom.node(a).parent;
                let pe = if p == NONE { 0 } else { sel.eff[p as usize] };
                if sel.eff[a as usize] & !pe != 0 {
                    why.push_str(&format!(
                        " [{:x} from {}]",
                        sel.eff[a as usize] & !pe,
                        describe(dom, a)
                    ));
                }
                a = p;
            }
        }
        let _ = writeln!(
            out,
            "{verdict} {:?} v={:.0} c={} l={} eff={:x} {region} {:?} {} | {}{why}",
            sel.classes[i],
            sel.values[i],
            b.chars,
            b.link,
            sel.eff[b.owner as usize],
            b.kind,
            describe(dom, b.owner),
            t.replace('\n', " / ")
        );
    }
}
