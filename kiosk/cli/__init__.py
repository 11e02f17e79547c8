"""`face-kiosk` command line (issue 23 split it: one module per command group).

- `entry`: the parser and the dispatch (`main`, `build_parser`); what every process does first;
- `common`: what every command shares (its gallery opened by the rules, PIN, passphrase, JSON lines);
- `pipelines`: the command's face pipelines, closed when it ends;
- `enroll`, `identify` (identify, verify), `people` (people, export, import), `diagnostics`
  (eval, bench, self-test), `privacy`, `shared` (visits, gallery copy), `watch`.
"""

from kiosk.cli.entry import build_parser, main

__all__ = ["build_parser", "main"]
