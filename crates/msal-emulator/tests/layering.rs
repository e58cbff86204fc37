//! The emulator's modules import one way: this test parses `src/**/*.rs`, collects every
//! `crate::…`, `super::…` and `self::…` path (in `use` items, code and macro arguments), and
//! checks that
//! - no files import each other in a cycle, and
//! - every top-level module imports only modules of lower layers, as listed in the
//!   `// layer N: …` comment of `src/lib.rs` (and nothing from `lib.rs` itself).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::Visit;

/// A module path inside the crate: `[]` is the crate root, `["pages", "flow"]` is
/// `src/pages/flow.rs`.
type Module = Vec<String>;

/// Every `.rs` file under `src` but the binary's `main.rs`, with its module path.
fn source_files(src: &Path) -> Vec<(Module, PathBuf)> {
    fn walk(dir: &Path, prefix: &[String], out: &mut Vec<(Module, PathBuf)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("read src")
            .map(|e| e.expect("dir entry").path())
            .collect();
        entries.sort();
        for path in entries {
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("utf-8 file name")
                .to_string();
            if path.is_dir() {
                let mut p = prefix.to_vec();
                p.push(name);
                walk(&path, &p, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let module = match (prefix.is_empty(), name.as_str()) {
                    (true, "main") => continue,
                    (true, "lib") => Vec::new(),
                    (false, "mod") => prefix.to_vec(),
                    _ => {
                        let mut p = prefix.to_vec();
                        p.push(name);
                        p
                    }
                };
                out.push((module, path));
            }
        }
    }
    let mut out = Vec::new();
    walk(src, &[], &mut out);
    out
}

/// Collects the modules one file's paths lead to.
struct Collector<'a> {
    known: &'a BTreeSet<Module>,
    /// The file's module, plus the inline modules (`mod tests { … }`) the visitor is in.
    here: Module,
    targets: BTreeSet<Module>,
}

impl Collector<'_> {
    /// The file module a path (as segments) leads to, if it is one of the crate's.
    fn resolve(&mut self, segs: &[String]) {
        let Some(first) = segs.first() else { return };
        let (mut target, rest) = match first.as_str() {
            "crate" => (Vec::new(), &segs[1..]),
            "self" => (self.here.clone(), &segs[1..]),
            "super" => {
                let mut base = self.here.clone();
                let mut i = 0;
                while segs.get(i).is_some_and(|s| s == "super") {
                    base.pop();
                    i += 1;
                }
                (base, &segs[i..])
            }
            // A child module named without `self::` (2018 paths).
            name if self
                .known
                .contains(&[self.here.as_slice(), &[name.to_string()]].concat()) =>
            {
                (self.here.clone(), segs)
            }
            _ => return,
        };
        for seg in rest {
            let mut next = target.clone();
            next.push(seg.clone());
            if !self.known.contains(&next) {
                break;
            }
            target = next;
        }
        // Inline modules belong to their file.
        while !self.known.contains(&target) {
            target.pop();
        }
        self.targets.insert(target);
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                self.resolve(&[prefix.clone(), vec![n.ident.to_string()]].concat())
            }
            syn::UseTree::Rename(r) => {
                self.resolve(&[prefix.clone(), vec![r.ident.to_string()]].concat())
            }
            syn::UseTree::Glob(_) => self.resolve(prefix),
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(prefix, t);
                }
            }
        }
    }

    /// Paths inside macro arguments (`format!`, `json!`…), which syn leaves as tokens.
    fn tokens(&mut self, tokens: TokenStream) {
        let flat: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < flat.len() {
            match &flat[i] {
                TokenTree::Group(g) => self.tokens(g.stream()),
                TokenTree::Ident(id)
                    if ["crate", "super", "self"].contains(&id.to_string().as_str()) =>
                {
                    let mut segs = vec![id.to_string()];
                    let mut j = i + 1;
                    while let (
                        Some(TokenTree::Punct(a)),
                        Some(TokenTree::Punct(b)),
                        Some(TokenTree::Ident(next)),
                    ) = (flat.get(j), flat.get(j + 1), flat.get(j + 2))
                    {
                        if a.as_char() != ':' || b.as_char() != ':' {
                            break;
                        }
                        segs.push(next.to_string());
                        j += 3;
                    }
                    if segs.len() > 1 {
                        self.resolve(&segs);
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }
}

impl<'ast> Visit<'ast> for Collector<'_> {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if m.content.is_some() {
            self.here.push(m.ident.to_string());
            syn::visit::visit_item_mod(self, m);
            self.here.pop();
        }
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &u.tree);
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        let segs: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
        self.resolve(&segs);
        syn::visit::visit_path(self, p);
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        self.tokens(m.tokens.clone());
        syn::visit::visit_macro(self, m);
    }

    // `pub(in crate::x)` restricts visibility; it imports nothing.
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}
}

/// File module → the file modules it imports.
fn import_graph(src: &Path) -> BTreeMap<Module, BTreeSet<Module>> {
    let files = source_files(src);
    let known: BTreeSet<Module> = files.iter().map(|(m, _)| m.clone()).collect();
    let mut graph = BTreeMap::new();
    for (module, path) in &files {
        let text = std::fs::read_to_string(path).expect("read source");
        let file = syn::parse_file(&text)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
        let mut c = Collector {
            known: &known,
            here: module.clone(),
            targets: BTreeSet::new(),
        };
        c.visit_file(&file);
        c.targets.remove(module);
        graph.insert(module.clone(), c.targets);
    }
    graph
}

fn name(m: &Module) -> String {
    if m.is_empty() {
        "lib".to_string()
    } else {
        m.join("::")
    }
}

/// A cycle of the graph (its modules in order, the first repeated at the end), if any.
fn find_cycle(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    fn dfs(
        m: &Module,
        graph: &BTreeMap<Module, BTreeSet<Module>>,
        marks: &mut BTreeMap<Module, Mark>,
        path: &mut Vec<Module>,
    ) -> Option<Vec<Module>> {
        marks.insert(m.clone(), Mark::OnPath);
        path.push(m.clone());
        for next in graph.get(m).into_iter().flatten() {
            match marks.get(next).copied().unwrap_or(Mark::New) {
                Mark::OnPath => {
                    let start = path.iter().position(|p| p == next).unwrap_or(0);
                    let mut cycle = path[start..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = dfs(next, graph, marks, path) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        path.pop();
        marks.insert(m.clone(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for m in graph.keys() {
        if marks.get(m).copied().unwrap_or(Mark::New) == Mark::New
            && let Some(c) = dfs(m, graph, &mut marks, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

/// The `// layer N: a b c` lines of `lib.rs`: module name → layer number.
fn declared_layers(lib_rs: &str) -> BTreeMap<String, u32> {
    let mut layers = BTreeMap::new();
    for line in lib_rs.lines() {
        let Some(rest) = line.trim().strip_prefix("// layer ") else {
            continue;
        };
        let (n, names) = rest.split_once(':').expect("`// layer N: names`");
        let n: u32 = n.trim().parse().expect("a layer number");
        for m in names.split_whitespace() {
            assert!(
                layers.insert(m.to_string(), n).is_none(),
                "{m} is listed twice in lib.rs's layers"
            );
        }
    }
    layers
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn modules_import_each_other_without_cycles() {
    let graph = import_graph(&src_dir());
    // The parse found the imports (a checker that sees nothing would pass anything).
    let edges: usize = graph.values().map(BTreeSet::len).sum();
    assert!(edges > 50, "only {edges} imports found");
    let server = vec!["server".to_string()];
    assert!(graph[&server].contains(&vec!["router".to_string()]));
    if let Some(cycle) = find_cycle(&graph) {
        let names: Vec<String> = cycle.iter().map(name).collect();
        panic!("import cycle: {}", names.join(" -> "));
    }
}

#[test]
fn modules_import_only_lower_layers() {
    let src = src_dir();
    let lib_rs = std::fs::read_to_string(src.join("lib.rs")).expect("read lib.rs");
    let layers = declared_layers(&lib_rs);
    let graph = import_graph(&src);
    let top_level: BTreeSet<String> = graph.keys().filter_map(|m| m.first().cloned()).collect();
    let listed: BTreeSet<String> = layers.keys().cloned().collect();
    assert_eq!(
        top_level, listed,
        "lib.rs's `// layer N:` lines must list every module of src/ once"
    );
    let mut wrong = Vec::new();
    for (from, targets) in &graph {
        let Some(from_top) = from.first() else {
            continue; // lib.rs: the crate root declares and re-exports everything.
        };
        for to in targets {
            let ok = match to.first() {
                None => false, // importing from lib.rs is importing upward
                Some(to_top) if to_top == from_top => true, // inside one module
                Some(to_top) => layers[to_top] < layers[from_top],
            };
            if !ok {
                wrong.push(format!("{} -> {}", name(from), name(to)));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that do not go to a lower layer:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_checker_finds_cycles_and_reads_every_kind_of_path() {
    let m = |s: &str| -> Module { s.split("::").map(str::to_string).collect() };
    let graph: BTreeMap<Module, BTreeSet<Module>> = [
        (m("a"), [m("b")].into()),
        (m("b"), [m("c")].into()),
        (m("c"), [m("a")].into()),
        (m("d"), [m("a")].into()),
    ]
    .into();
    let cycle = find_cycle(&graph).expect("a cycle");
    assert_eq!(cycle.first(), cycle.last());
    assert_eq!(cycle.len(), 4);
    let acyclic: BTreeMap<Module, BTreeSet<Module>> =
        [(m("a"), [m("b")].into()), (m("b"), BTreeSet::new())].into();
    assert_eq!(find_cycle(&acyclic), None);

    let known: BTreeSet<Module> = [vec![], m("x"), m("y"), m("p"), m("p::q"), m("p::r")].into();
    let file = syn::parse_file(
        r#"
        // crate::commented_out is not a path.
        use crate::{x::Thing, p::{q::One, r}};
        use super::Other;
        mod tests { use super::*; fn f() { let _ = self::g(); } }
        fn g() -> String { format!("{}", crate::y::value()) }
        pub(in crate::x) fn h() {}
        "#,
    )
    .expect("parses");
    let mut c = Collector {
        known: &known,
        here: m("p::q"),
        targets: BTreeSet::new(),
    };
    c.visit_file(&file);
    c.targets.remove(&m("p::q"));
    let expected: BTreeSet<Module> = [m("x"), m("y"), m("p"), m("p::r")].into();
    assert_eq!(c.targets, expected);
}
