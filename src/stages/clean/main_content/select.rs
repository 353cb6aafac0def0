//! Chooses the blocks that make up the main content.
//!
//! 1. Every block gets a content value: long, punctuated, link-poor text is worth its length;
//!    link lists and short fragments are worth less than nothing.
//! 2. Boilerplate hints (tags and class/id words) mark subtrees, except a hinted subtree that
//!    holds most of the page's content: that hint is wrong (`<div class="has-sidebar">`). So
//!    are hints repeated on sibling sections that together hold most of it, and a hint on a
//!    wrapper around a content-hinted element holding most of it (a blog's `date-outer`).
//!    Comment threads are found first, so that a long thread cannot make the article look
//!    small. Blocks whose words mark them as furniture (`lexicon`: calls to subscribe or
//!    share, credits, datelines) weigh like fragments from the start.
//! 3. The main container is the element whose subtree has the highest total value: it takes in
//!    every good block it can while leaving out as much boilerplate as possible. It is widened
//!    to an ancestor that costs almost nothing, or to a content-hinted one (`<article>`,
//!    `class="post"`) whose only cost is hinted boilerplate, so short paragraphs and headings
//!    at its edges are not cut off. Sibling subtrees with a fair share of value, or made only
//!    of good text, join it (readability's sibling rule).
//! 4. Inside it, blocks are classified as jusText does: furniture is bad, long link-poor
//!    blocks are good, short ones and fairly long ones are settled by their neighbours (and
//!    kept when they sit beside good text in the same element), headings by the text that
//!    follows them, and a short label right before a link list goes with the links. A page
//!    where nothing is good on its own (a poem, a short note) is settled again with its
//!    fairly long blocks as anchors.

use std::collections::HashMap;

use super::blocks::{Block, BlockKind, Segmented};
use super::dom::{Dom, Id, NONE};
use super::hints::neg;
use super::lexicon;
use super::Favor;

/// What the selection needs to know from the options.
#[derive(Debug, Clone, Copy)]
pub struct SelectOptions {
    /// Keep comment threads (returned separately).
    pub comments: bool,
    /// Precision/recall trade-off.
    pub favor: Favor,
    /// Read comment hints as content: a page whose only text is its thread (a forum, a
    /// question page) is settled again this way.
    pub thread_is_page: bool,
}

/// The chosen blocks and what led to them.
#[derive(Debug, Default)]
pub struct Selection {
    /// Indices of main-content blocks, in document order.
    pub main: Vec<usize>,
    /// Indices of comment blocks, in document order.
    pub comments: Vec<usize>,
    /// The main container element.
    pub container: Id,
    /// The subtree of highest value, before it was widened.
    pub core: Id,
    /// Effective boilerplate bits per node.
    pub eff: Vec<u32>,
    /// Value per block.
    pub values: Vec<f32>,
    /// Class per block before its neighbours were considered.
    pub classes: Vec<Class>,
}

fn link_density(b: &Block) -> f32 {
    if b.chars == 0 {
        0.0
    } else {
        b.link as f32 / b.chars as f32
    }
}

/// The content value of one block on its own.
fn value(b: &Block) -> f32 {
    let c = b.chars as f32;
    let ld = link_density(b);
    if b.kind == BlockKind::Heading {
        return if ld > 0.5 { -5.0 } else { 0.0 };
    }
    if ld > 0.5 {
        return -c.min(300.0) * ld;
    }
    if c >= 80.0 {
        c * (1.0 - ld) + 10.0 * b.punct.min(20) as f32
    } else if c >= 30.0 {
        0.5 * c * (1.0 - ld) + 2.0 * b.punct.min(5) as f32
    } else {
        -5.0
    }
}

/// Boilerplate categories that remove a subtree from the main content.
fn removing_bits(opts: &SelectOptions) -> u32 {
    let mut bits = neg::NAV
        | neg::FOOTER
        | neg::SIDEBAR
        | neg::SHARE
        | neg::RELATED
        | neg::AD
        | neg::COOKIE
        | neg::SUBSCRIBE
        | neg::META
        | neg::FORM
        | neg::POPUP
        | neg::HIDDEN
        | neg::TOOLS
        | neg::CAPTION
        | neg::WIDGET
        | neg::FILL;
    if opts.favor == Favor::Precision {
        bits |= neg::HEADER;
    }
    bits
}

/// Hints that remove a subtree only when it holds no long, link-poor text.
const WEAK: u32 = neg::WIDGET | neg::TOOLS | neg::HEADER;

/// Weighted characters from which a caption is read as a paragraph.
const LONG_CAPTION: u32 = 200;

/// The knobs that [`Favor`] turns.
struct Params {
    /// Share of the page's content mass that protects a hinted subtree from its hint.
    protect: f32,
    /// Blocks shorter than this (in weighted characters) are Short.
    short: u32,
    /// Blocks at least this long (and link-poor) are Good.
    good: u32,
    /// Drop what follows the last block that is good on its own.
    trim_tail: bool,
}

impl Params {
    fn new(favor: Favor) -> Params {
        match favor {
            Favor::Precision => Params {
                protect: 0.7,
                short: 60,
                good: 120,
                trim_tail: true,
            },
            Favor::Balanced => Params {
                protect: 0.5,
                short: 40,
                good: 80,
                trim_tail: false,
            },
            Favor::Recall => Params {
                protect: 0.35,
                short: 20,
                good: 60,
                trim_tail: false,
            },
        }
    }
}

/// Share of the page's content mass a form to fill in must hold to be read as the page's
/// wrapper (ASP.NET pages put everything inside one `<form>`) rather than as a form.
const FILL_PROTECT: f32 = 0.85;

/// How far above the best subtree the container may widen, in value points.
const SLACK: f32 = 15.0;

/// How many ancestor levels of the container are searched for sibling content.
const SIBLING_LEVELS: usize = 4;

/// Share of the container's value a sibling subtree needs to join it.
const SIBLING_SHARE: f32 = 0.15;

/// Weighted characters of kept text below which a page is read as one of short paragraphs.
const SPARSE: u32 = 200;

/// Characters of short blocks and headings a heading may look past for the text it introduces.
const HEADING_REACH: u32 = 200;

/// Picks the main-content and comment blocks of a segmented page.
pub fn select(dom: &Dom, seg: &Segmented, opts: &SelectOptions) -> Selection {
    let n = dom.nodes.len();
    let blocks = &seg.blocks;
    if blocks.is_empty() || seg.order.is_empty() {
        return Selection::default();
    }
    let root = seg.order[0];
    // Furniture by its words weighs like a fragment: a subscription form full of sentences
    // must not outweigh the article it sits beside.
    let furniture: Vec<bool> = blocks
        .iter()
        .map(|b| b.kind != BlockKind::Pre && lexicon::is_furniture(&b.text, b.chars))
        .collect();
    let values: Vec<f32> = blocks
        .iter()
        .zip(&furniture)
        .map(|(b, &f)| if f { value(b).min(-5.0) } else { value(b) })
        .collect();
    let params = Params::new(opts.favor);
    let protect = params.protect;

    // Positive mass per subtree, to tell wrong hints from right ones.
    let mass = subtree_sums(dom, seg, |i| values[i].max(0.0));

    // Comment threads first: a thread holding most of the page is the page (a forum).
    let total = mass[root as usize];
    let mut eff = vec![0u32; n];
    // A live ticker or a forum repeats one item class with no thread wrapper around it.
    let comment_groups = group_sums(dom, seg, root, neg::COMMENT, &mass, &mass);
    for &id in &seg.order {
        let inherited = parent_bits(dom, &eff, id, root);
        let own = if opts.thread_is_page {
            0
        } else {
            seg.info[id as usize].neg & neg::COMMENT
        };
        let grouped = if own != 0 && inherited == 0 {
            group_key(dom, id)
                .and_then(|k| comment_groups.get(&k))
                .map_or(0.0, |g| g.0)
        } else {
            0.0
        };
        let own = if own != 0 && mass[id as usize].max(grouped) >= protect * total {
            0
        } else {
            own
        };
        eff[id as usize] = inherited | own;
    }

    // Other hints, protected against the mass of the page outside comment threads.
    let mass = subtree_sums(dom, seg, |i| {
        if eff[blocks[i].owner as usize] == 0 {
            values[i].max(0.0)
        } else {
            0.0
        }
    });
    let strong = subtree_sums(
        dom,
        seg,
        |i| if values[i] >= 60.0 { values[i] } else { 0.0 },
    );
    // A misplaced hint sits on a wrapper around several paragraphs; a banner or a widget with
    // one long text is what it says, however long.
    let long_blocks = subtree_sums(dom, seg, |i| {
        if blocks[i].chars >= 80 && values[i] > 0.0 {
            1.0 + (blocks[i].chars / 1000) as f32
        } else {
            0.0
        }
    });
    // A caption of several sentences is a paragraph of the story set beside its photo.
    let long_text = subtree_sums(dom, seg, |i| {
        if blocks[i].chars >= LONG_CAPTION && values[i] > 0.0 {
            1.0
        } else {
            0.0
        }
    });
    let total = mass[root as usize];
    let removing = removing_bits(opts);
    // Content split into sections that repeat one wrongly hinted class or id
    // (`id="toc-title-3"`, `class="section--promoted"`) is judged as one subtree.
    let groups = group_sums(dom, seg, root, removing, &mass, &long_blocks);
    // Nested heavy wrappers each scan their subtree; a bound keeps crafted pages linear.
    let mut budget = 4 * seg.order.len();
    for &id in &seg.order {
        let inherited = parent_bits(dom, &eff, id, root);
        let comment = eff[id as usize];
        let own = seg.info[id as usize].neg & removing;
        let i = id as usize;
        let (group_mass, group_long) = if own != 0 && inherited == 0 {
            group_key(dom, id)
                .and_then(|k| groups.get(&k).copied())
                .unwrap_or((mass[i], long_blocks[i]))
        } else {
            (mass[i], long_blocks[i])
        };
        let need = if own & neg::FILL != 0 {
            FILL_PROTECT
        } else {
            protect
        };
        let heavy = total > 0.0 && group_mass.max(mass[i]) >= need * total;
        let protected = heavy
            && (group_long.max(long_blocks[i]) >= 2.0
                || (own != 0 && holds_content(seg, &mass, id, protect * total, &mut budget)));
        let weak_with_text = (own & !WEAK == 0 && strong[i] > 0.0)
            || (own & !(WEAK | neg::CAPTION) == 0 && long_text[i] > 0.0);
        let own = if protected || weak_with_text { 0 } else { own };
        eff[i] = inherited | own | comment;
    }

    // Container: the subtree with the highest total value, boilerplate counted against it.
    let sum = subtree_sums(dom, seg, |i| {
        if eff[blocks[i].owner as usize] != 0 {
            -values[i].abs().min(100.0) - 5.0
        } else {
            values[i]
        }
    });
    let mut best = root;
    for &id in &seg.order {
        if eff[id as usize] == 0 && sum[id as usize] > sum[best as usize] {
            best = id;
        }
    }
    let top = sum[best as usize];
    let slack = SLACK;
    // Hinted boilerplate inside a candidate is dropped anyway: measured without it, a
    // content-hinted ancestor (`<article>`, `class="post"`) that costs little takes in the
    // short paragraphs and headings around the best subtree.
    let clean = subtree_sums(dom, seg, |i| {
        if eff[blocks[i].owner as usize] != 0 {
            0.0
        } else {
            values[i]
        }
    });
    let top_clean = clean[best as usize];
    let core = best;
    let mut cur = best;
    while cur != root {
        let p = dom.node(cur).parent;
        if p == NONE || eff[p as usize] != 0 {
            break;
        }
        let clean_ok = clean[p as usize] >= top_clean - slack;
        if !clean_ok {
            break;
        }
        if sum[p as usize] >= top - slack || seg.info[p as usize].pos {
            best = p;
        }
        cur = p;
    }
    // Siblings worth a fair share of the container join it: an intro or a second body part
    // split off into its own wrapper (as readability does).
    let mut regions = vec![(seg.info[best as usize].pre, seg.info[best as usize].end)];
    let threshold = (SIBLING_SHARE * top).max(30.0);
    // A sibling made only of good text (an intro paragraph, its heading) joins whatever its
    // size.
    let flawed = subtree_sums(dom, seg, |i| {
        let heading = blocks[i].kind == BlockKind::Heading && values[i] == 0.0;
        if eff[blocks[i].owner as usize] != 0 || (values[i] <= 0.0 && !heading) {
            1.0
        } else {
            0.0
        }
    });
    let mut cur = best;
    for p in clean_ancestors(dom, &eff, best, root).take(SIBLING_LEVELS) {
        for c in dom.children(p) {
            let ci = &seg.info[c as usize];
            let ok = sum[c as usize] >= threshold
                || (flawed[c as usize] == 0.0 && sum[c as usize] >= 50.0);
            if c != cur && ci.live && eff[c as usize] == 0 && ok {
                regions.push((ci.pre, ci.end));
            }
        }
        cur = p;
    }
    // The title, standfirst and intro of an article often sit in a header of their own before
    // the body, with a byline or a photo between: the leading part of the article around the
    // container joins it. Only the part before the container: teasers come after the body.
    if let Some(lead) = lead_root(dom, seg, &eff, best, root) {
        regions.push((seg.info[lead as usize].pre, seg.info[best as usize].pre));
    }
    let inside = |pre: u32| regions.iter().any(|&(lo, hi)| pre >= lo && pre < hi);

    let mut sel = Selection {
        container: best,
        core,
        ..Selection::default()
    };
    let mut class = Vec::with_capacity(blocks.len());
    for (i, b) in blocks.iter().enumerate() {
        let pre = seg.info[b.owner as usize].pre;
        let e = eff[b.owner as usize];
        if e == neg::COMMENT {
            if opts.comments && link_density(b) <= 0.5 && b.kind != BlockKind::Heading {
                sel.comments.push(i);
            }
            class.push(Class::Bad);
            continue;
        }
        class.push(if !inside(pre) {
            Class::Bad
        } else if e != 0 {
            Class::Skip
        } else if link_density(b) > 0.5 {
            Class::Links
        } else if furniture[i] {
            Class::Furniture
        } else {
            initial_class(b, &params)
        });
    }
    sel.classes = class.clone();
    let initial = class.clone();
    resolve_context(dom, blocks, &mut class, params.trim_tail);
    let kept: u32 = (0..blocks.len())
        .filter(|&i| class[i] == Class::Good)
        .map(|i| blocks[i].chars)
        .sum();
    if kept < SPARSE {
        // A page of short paragraphs has nothing good on its own to anchor the others: its
        // fairly long blocks anchor instead, and short ones need one good neighbour.
        class = initial
            .iter()
            .map(|&c| match c {
                Class::NearGood => Class::Good,
                Class::Short => Class::NearGood,
                c => c,
            })
            .collect();
        resolve_context(dom, blocks, &mut class, params.trim_tail);
    }
    if !class.contains(&Class::Good) {
        // Nothing reads as text even so: a page of short lines (a data sheet, a photo post).
        // Its content-hinted element, if it has one, is taken whole, less links, hinted parts
        // and furniture.
        let plain = |i: usize| {
            eff[blocks[i].owner as usize] == 0 && link_density(&blocks[i]) <= 0.5 && !furniture[i]
        };
        let chars = subtree_sums(dom, seg, |i| {
            if plain(i) {
                blocks[i].chars as f32
            } else {
                0.0
            }
        });
        let mut pick: Option<Id> = None;
        for &id in &seg.order {
            let i = id as usize;
            let page_level = dom.node(id).element().is_some_and(|e| {
                matches!(
                    e.name.local,
                    html5ever::local_name!("body") | html5ever::local_name!("html")
                )
            });
            if seg.info[i].pos
                && eff[i] == 0
                && !page_level
                && chars[i] >= THIN_MIN
                && pick.is_none_or(|p| chars[i] >= chars[p as usize])
            {
                pick = Some(id);
            }
        }
        if let Some(a) = pick {
            let (lo, hi) = (seg.info[a as usize].pre, seg.info[a as usize].end);
            for (i, b) in blocks.iter().enumerate() {
                let pre = seg.info[b.owner as usize].pre;
                if pre >= lo && pre < hi && plain(i) {
                    class[i] = Class::Good;
                }
            }
            sel.container = a;
        }
    }
    cut_trailing_fragment(blocks, &initial, &mut class);
    // The page's own title (an `<h1>` before the text) is metadata, as trafilatura has it:
    // it is in `title`, and `keep_title` puts it first.
    let is_h1 = |i: usize| {
        dom.node(blocks[i].owner)
            .element()
            .is_some_and(|e| e.name.local == html5ever::local_name!("h1"))
    };
    if let Some(first) = (0..blocks.len())
        .find(|&i| class[i] == Class::Good && blocks[i].kind != BlockKind::Heading && !is_h1(i))
    {
        for c in class
            .iter_mut()
            .take(first)
            .enumerate()
            .filter(|(i, _)| is_h1(*i))
        {
            *c.1 = Class::Bad;
        }
    }
    // Closing notes after the text: walked back from the last kept block while they read as
    // furniture.
    for i in (0..blocks.len()).rev() {
        if class[i] != Class::Good {
            continue;
        }
        let b = &blocks[i];
        if b.kind == BlockKind::Pre || !lexicon::is_tail_furniture(&b.text, b.chars) {
            break;
        }
        class[i] = Class::Bad;
    }
    sel.main = (0..blocks.len())
        .filter(|&i| class[i] == Class::Good)
        .collect();
    sel.eff = eff;
    sel.values = values;
    sel
}

/// Characters of plain short text a content-hinted element needs to be taken whole on a page
/// where nothing else reads as text.
const THIN_MIN: f32 = 60.0;

/// Weighted characters of dropped blocks, boilerplate among them, that break the kept text.
const BREAK: u32 = 200;

/// Share of the kept text that a fragment after such a break may hold at most to be dropped.
const FRAGMENT_SHARE: f32 = 0.1;

/// Weighted characters a fragment after such a break may hold at most: on a long page a tenth
/// is a whole section.
const FRAGMENT_MAX: u32 = 1000;

/// Drops a small fragment of text that follows the article across a break of boilerplate: an
/// author box, a promotion, a teaser below the share bar and the tags. Once the text has
/// started, a run of at least [`BREAK`] weighted characters of dropped blocks with a hinted
/// or link-dense one among them, followed by no more than [`FRAGMENT_SHARE`] of the kept text
/// (and [`FRAGMENT_MAX`] characters), ends the main text there.
fn cut_trailing_fragment(blocks: &[Block], initial: &[Class], class: &mut [Class]) {
    let total: u32 = (0..blocks.len())
        .filter(|&i| class[i] == Class::Good)
        .map(|i| blocks[i].chars)
        .sum();
    // A section of its own (a heading over text) after the break is the article's last
    // section: a fragment holding the last kept heading is never cut.
    let last_heading = (0..blocks.len())
        .rposition(|i| class[i] == Class::Good && blocks[i].kind == BlockKind::Heading);
    let (mut seen, mut gap, mut boiler) = (0u32, 0u32, false);
    for i in 0..blocks.len() {
        if class[i] != Class::Good {
            if seen > 0 {
                gap += blocks[i].chars;
                boiler |= initial[i] == Class::Skip;
            }
            continue;
        }
        if seen > 0 && gap >= BREAK && boiler {
            let rest = total - seen;
            let section = last_heading.is_some_and(|h| h >= i);
            if rest as f32 <= FRAGMENT_SHARE * total as f32 && rest <= FRAGMENT_MAX && !section {
                for c in class.iter_mut().skip(i) {
                    if *c == Class::Good {
                        *c = Class::Bad;
                    }
                }
                return;
            }
        }
        seen += blocks[i].chars;
        gap = 0;
        boiler = false;
    }
}

/// How many levels above the container an article element is looked for.
const LEAD_LEVELS: usize = 4;

/// The outermost content-hinted element (`<article>`, `class="article"`) a few levels above
/// `best`, with no boilerplate hint on the way; `<main>` and `<body>` hold more than one
/// article's lead.
fn lead_root(dom: &Dom, seg: &Segmented, eff: &[u32], best: Id, root: Id) -> Option<Id> {
    let mut found = None;
    for p in clean_ancestors(dom, eff, best, root).take(LEAD_LEVELS) {
        let page_level = dom.node(p).element().is_some_and(|e| {
            matches!(
                e.name.local,
                html5ever::local_name!("main") | html5ever::local_name!("body")
            )
        });
        if page_level {
            break;
        }
        if seg.info[p as usize].pos {
            found = Some(p);
        }
    }
    found
}

/// The ancestors of `id`, nearest first, up to `root` and up to the first one with a
/// boilerplate hint (neither included).
fn clean_ancestors<'a>(
    dom: &'a Dom,
    eff: &'a [u32],
    id: Id,
    root: Id,
) -> impl Iterator<Item = Id> + 'a {
    let mut cur = id;
    std::iter::from_fn(move || {
        if cur == root {
            return None;
        }
        let p = dom.node(cur).parent;
        if p == NONE || eff[p as usize] != 0 {
            return None;
        }
        cur = p;
        Some(p)
    })
}

/// jusText's block classes, plus the two ways a block is dropped inside the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Boilerplate: outside the container, hinted, or link-dense.
    Bad,
    /// Content on its own merits.
    Good,
    /// Too short to judge alone: needs good neighbours on both sides.
    Short,
    /// Fairly long: needs a good neighbour on one side.
    NearGood,
    /// A heading: kept when good content follows before any boilerplate.
    Heading,
    /// Dropped inside the container by a hint (a caption, a share bar): no context for others.
    Skip,
    /// Dropped inside the container for link density; a label right before it goes too.
    Links,
    /// Dropped inside the container for its words (a credit, a call to subscribe): bad for
    /// its neighbours, but no end to the text a heading introduces.
    Furniture,
}

fn initial_class(b: &Block, params: &Params) -> Class {
    let ld = link_density(b);
    if b.kind == BlockKind::Heading {
        return Class::Heading;
    }
    if b.kind == BlockKind::Pre {
        return Class::Good;
    }
    if b.chars >= params.good && ld <= 0.3 {
        Class::Good
    } else if b.chars < params.short {
        Class::Short
    } else {
        Class::NearGood
    }
}

/// The nearest block before (`step` -1) or after (+1) `i` whose class is Good or Bad, or one of
/// `also`; the page edges count as Bad.
fn neighbour(class: &[Class], i: usize, forward: bool, also: Option<Class>) -> Class {
    let mut j = i;
    loop {
        if forward {
            j += 1;
            if j >= class.len() {
                return Class::Bad;
            }
        } else {
            if j == 0 {
                return Class::Bad;
            }
            j -= 1;
        }
        let c = class[j];
        if c == Class::Furniture {
            return Class::Bad;
        }
        if c == Class::Good || c == Class::Bad || Some(c) == also {
            return c;
        }
    }
}

/// Settles short, near-good and heading blocks by their neighbours, as jusText does.
fn resolve_context(dom: &Dom, blocks: &[Block], class: &mut [Class], trim_tail: bool) {
    let initial = class.to_vec();
    let mut out = class.to_vec();
    for i in 0..class.len() {
        if initial[i] != Class::Short {
            continue;
        }
        let p = neighbour(&initial, i, false, None);
        let n = neighbour(&initial, i, true, None);
        out[i] = if p == Class::Good && n == Class::Good {
            Class::Good
        } else if p == Class::Bad && n == Class::Bad {
            Class::Bad
        } else if (p == Class::Bad
            && neighbour(&initial, i, false, Some(Class::NearGood)) == Class::NearGood)
            || (n == Class::Bad
                && neighbour(&initial, i, true, Some(Class::NearGood)) == Class::NearGood)
        {
            Class::Good
        } else {
            Class::Bad
        };
    }
    for i in 0..class.len() {
        if initial[i] != Class::NearGood {
            continue;
        }
        let p = neighbour(&initial, i, false, None);
        let n = neighbour(&initial, i, true, None);
        out[i] = if p == Class::Bad && n == Class::Bad {
            Class::Bad
        } else {
            Class::Good
        };
    }
    // Short lines next to good text inside the same element belong to it: a sign-off, a
    // greeting, the last line of a poem, wherever the boilerplate beyond them starts. Forward
    // for lines that follow, backward for lines that lead in.
    let parent = |i: usize| dom.node(blocks[i].owner).parent;
    for i in 1..class.len() {
        if out[i] != Class::Bad || !matches!(initial[i], Class::Short | Class::NearGood) {
            continue;
        }
        let j = i - 1;
        if out[j] == Class::Good
            && parent(j) == parent(i)
            && matches!(initial[j], Class::Good | Class::Short | Class::NearGood)
        {
            out[i] = Class::Good;
        }
    }
    for i in (0..class.len().saturating_sub(1)).rev() {
        if out[i] != Class::Bad || !matches!(initial[i], Class::Short | Class::NearGood) {
            continue;
        }
        let j = i + 1;
        if out[j] == Class::Good
            && parent(j) == parent(i)
            && matches!(initial[j], Class::Good | Class::Short | Class::NearGood)
        {
            out[i] = Class::Good;
        }
    }
    // A heading introduces what follows it: good text soon after, before any boilerplate.
    for i in 0..class.len() {
        if initial[i] != Class::Heading {
            continue;
        }
        let mut dist = 0u32;
        let mut verdict = Class::Bad;
        for j in i + 1..class.len() {
            match out[j] {
                Class::Good => {
                    verdict = Class::Good;
                    break;
                }
                // A heading over a link list is the list's label ("Related", "Mehr zum Thema").
                Class::Bad | Class::Links => break,
                _ => {}
            }
            dist += blocks[j].chars;
            if dist > HEADING_REACH {
                break;
            }
        }
        out[i] = verdict;
    }
    // A short label right before a run of links introduces the links ("Read more:").
    for i in 0..class.len() {
        if matches!(initial[i], Class::Short | Class::Heading | Class::NearGood)
            && blocks[i].chars < 80
            && initial.get(i + 1) == Some(&Class::Links)
        {
            out[i] = Class::Bad;
        }
    }
    if trim_tail {
        // After the last block that is good on its own, the tail is taken for boilerplate
        // (sign-offs and credits are lost with calls to subscribe or share).
        if let Some(last) = initial.iter().rposition(|&c| c == Class::Good) {
            for c in out.iter_mut().skip(last + 1) {
                if *c == Class::Good {
                    *c = Class::Bad;
                }
            }
        }
    }
    class.copy_from_slice(&out);
}

/// Whether a content-hinted element (`class="post-body"`, `<article>`) inside `id` holds at
/// least `min` of the mass: blog engines wrap each post in `date-outer` or `post-meta` boxes.
/// Each scan spends `budget` (nodes looked at); once it is spent the answer is no.
fn holds_content(seg: &Segmented, mass: &[f32], id: Id, min: f32, budget: &mut usize) -> bool {
    let f = &seg.info[id as usize];
    let inner = &seg.order[f.pre as usize + 1..f.end as usize];
    if inner.len() > *budget {
        return false;
    }
    *budget -= inner.len();
    inner
        .iter()
        .any(|&d| seg.info[d as usize].pos && mass[d as usize] >= min)
}

/// Mass and long-block count of the outermost elements carrying any of `bits`, summed per
/// [`group_key`].
fn group_sums(
    dom: &Dom,
    seg: &Segmented,
    root: Id,
    bits: u32,
    mass: &[f32],
    long_blocks: &[f32],
) -> HashMap<String, (f32, f32)> {
    let mut raw = vec![0u32; dom.nodes.len()];
    let mut groups: HashMap<String, (f32, f32)> = HashMap::new();
    for &id in &seg.order {
        let i = id as usize;
        let inherited = parent_bits(dom, &raw, id, root);
        let own = seg.info[i].neg & bits;
        raw[i] = inherited | own;
        if own != 0 && inherited == 0 && mass[i] > 0.0 {
            if let Some(k) = group_key(dom, id) {
                let g = groups.entry(k).or_default();
                g.0 += mass[i];
                g.1 += long_blocks[i];
            }
        }
    }
    groups
}

/// The first class (or else the id) of an element with its digits removed, so that numbered
/// siblings (`section-1`, `section-2`) and variants (`item left`, `item right`) share it.
fn group_key(dom: &Dom, id: Id) -> Option<String> {
    let e = dom.node(id).element()?;
    let v = e
        .attr("class")
        .and_then(|v| v.split_ascii_whitespace().next())
        .or_else(|| e.attr("id"))?;
    let k: String = v.chars().filter(|c| !c.is_ascii_digit()).collect();
    (!k.trim().is_empty()).then_some(k)
}

fn parent_bits(dom: &Dom, eff: &[u32], id: Id, root: Id) -> u32 {
    let p = dom.node(id).parent;
    if p != NONE && id != root {
        eff[p as usize]
    } else {
        0
    }
}

/// Sums a per-block quantity over every visited subtree.
fn subtree_sums(dom: &Dom, seg: &Segmented, f: impl Fn(usize) -> f32) -> Vec<f32> {
    let mut v = vec![0f32; dom.nodes.len()];
    for (i, b) in seg.blocks.iter().enumerate() {
        v[b.owner as usize] += f(i);
    }
    // Children come after their parent in pre-order: walking it backwards adds each subtree
    // into its parent only once it is complete.
    for &id in seg.order.iter().skip(1).rev() {
        let p: Id = dom.node(id).parent;
        if p != NONE {
            v[p as usize] += v[id as usize];
        }
    }
    v
}
