#!/bin/bash
# Upstream's own verdict on each corpus program (the `upstream` column of
# corpus/manifest.json). Not run by the tests: a maintenance script.
#
#   MIRROR=/path/to/tinyagents.git tests/upstream/upstream_verdicts.sh bbcd0a6
#   $WORK/bin/bbcd0a6 tests/upstream/corpus/*.rag > verdicts.tsv
#   python tests/upstream/extract_corpus.py "$MIRROR" --verdicts verdicts.tsv
#
# It copies upstream's src/language/{lexer,parser,ast,types,span,source,
# diagnostic,compiler}.rs at commit $1 into $WORK (outside this repository;
# none of upstream's code is committed here), strips serde and the runtime
# half of compiler.rs, adds a main() that runs parse_str + compile + the node
# kind allowlist of its registry binding, and builds it with plain rustc (no
# crates needed). Output lines: path<TAB>ok|parse_error|compile_error|bind_error<TAB>message.
set -e
C=$1; R=${MIRROR:?set MIRROR to a git directory of tinyhumansai/tinyagents}; WORK=${WORK:-/tmp/upharness}
D=$WORK/src_$C
rm -rf $D; mkdir -p $D/language
for f in $(git -C $R ls-tree --name-only $C src/language/ | grep '\.rs$'); do
  b=$(basename $f); case $b in mod.rs|resolver.rs|capability_resolver.rs|diff.rs|testkit.rs) continue;; esac
  git -C $R show $C:$f > $D/language/$b
done
cd $D/language
# strip serde
sed -i -E '/^use serde::/d; /#\[serde\(/d; s/, ?Serialize, ?Deserialize//; s/Serialize, ?Deserialize, ?//; s/, ?Serialize//; s/, ?Deserialize//' *.rs
# compiler: keep only semantic compile (cut at "Parses, compiles, and registry-binds" or build_graph section)
if [ -f compiler.rs ]; then
  python3 - <<'PY'
import re
s=open('compiler.rs').read()
cut=s.find('/// Parses, compiles, and registry-binds')
if cut<0: cut=s.find('// Topology materialisation')
if cut>0: s=s[:cut]
s=re.sub(r'use crate::graph::[^;]*;','',s)
s=re.sub(r'use crate::registry::[^;]*;','',s)
s=re.sub(r'use crate::language::capability_resolver::[^;]*;','',s)
s=re.sub(r'use crate::language::parser::parse_str;','',s)
s=re.sub(r'use std::sync::Arc;','',s)
open('compiler.rs','w').write(s)
PY
fi
mods=$(ls *.rs | sed 's/\.rs$//' | grep -v '^test$')
{ for m in $mods; do echo "#[allow(dead_code, unused_imports)] pub mod $m;"; done; } > mod.rs
cat > $D/error.rs <<'R'
#[derive(Debug)]
pub enum TinyAgentsError { Parse { message: String, line: usize, column: usize }, Compile(String), Capability(String), Validation(String) }
pub type Result<T> = std::result::Result<T, TinyAgentsError>;
R
cat > $D/main.rs <<'R'
#![allow(dead_code, unused_imports, unused_variables)]
mod error; mod language;
fn main() {
    for p in std::env::args().skip(1) {
        let src = std::fs::read_to_string(&p).unwrap();
        let r = match language::parser::parse_str(&src) {
            Err(e) => format!("parse_error\t{:?}", e).replace('\n', " "),
            Ok(prog) => match language::compiler::compile(&prog) {
                Ok(bps) => {
                    // the node-kind allowlist of upstream's registry binding (capability_resolver.rs DEFAULT_NODE_KINDS)
                    let kinds = ["agent","model","tool_executor","subgraph","graph","subagent","repl_agent","router","interrupt","join","human"];
                    match bps.iter().flat_map(|b| b.nodes.iter()).find(|n| !kinds.contains(&n.kind.as_str())) {
                        Some(n) => format!("bind_error\tnode `{}` has unknown kind `{}`", n.name, n.kind),
                        None => "ok\t".to_string(),
                    }
                }
                Err(e) => format!("compile_error\t{:?}", e).replace('\n', " ") },
        };
        println!("{}\t{}", p, r);
    }
}
R
mkdir -p $WORK/bin
rustc --edition 2024 -O -A warnings -o $WORK/bin/$C $D/main.rs
