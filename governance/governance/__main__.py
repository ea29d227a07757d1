"""`python -m governance ...`: the gate's `meshctl` subcommands without the rest of meshctl
(used for base-ref trees and by the benchmark; `meshctl check` runs the same code)."""

import argparse
import sys

from governance.cli import register

parser = argparse.ArgumentParser(prog="python -m governance")
register(parser.add_subparsers(dest="command", required=True))
args = parser.parse_args()
sys.exit(args.func(args))
