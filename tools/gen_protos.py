#!/usr/bin/env python3
"""Regenerate fastmeta's Python protobuf modules from protos/fastmeta/protos/*.proto.

Usage (from anywhere; paths are resolved relative to the repository root):

    python tools/gen_protos.py          # rewrite python/fastmeta/protos/*_pb2.py{,i}
    python tools/gen_protos.py --check  # regenerate into a temp dir; exit 1 if stale

Uses ``python -m grpc_tools.protoc`` (package grpcio-tools), which also supplies
the well-known types such as google/protobuf/any.proto. The generated code embeds
the protoc version, so --check is only meaningful with the grpcio-tools version
the committed files were made with (see protos/README.md).
"""

from __future__ import annotations

import argparse
import difflib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
PROTO_PKG = Path("fastmeta") / "protos"  # proto import path == python package path
PY_ROOT = ROOT / "python"
OUT_DIR = PY_ROOT / PROTO_PKG
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi")


def proto_files() -> list[str]:
    """Proto paths relative to PROTO_ROOT (as protoc sees them), sorted."""
    files = sorted((PROTO_ROOT / PROTO_PKG).glob("*.proto"))
    if not files:
        raise SystemExit(f"no .proto files under {PROTO_ROOT / PROTO_PKG}")
    return [f.relative_to(PROTO_ROOT).as_posix() for f in files]


def run_protoc(out_root: Path) -> None:
    """Generate *_pb2.py and *_pb2.pyi for every proto into out_root/fastmeta/protos."""
    try:
        import grpc_tools  # noqa: F401
    except ImportError:
        raise SystemExit("grpc_tools is not installed (pip install grpcio-tools)") from None
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        "-I.",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        *proto_files(),
    ]
    # Run from PROTO_ROOT with relative paths so the "source:" lines are stable.
    res = subprocess.run(cmd, cwd=PROTO_ROOT, capture_output=True, text=True)
    if res.returncode != 0:
        sys.stderr.write(res.stdout + res.stderr)
        raise SystemExit(f"protoc failed with exit code {res.returncode}")


def generated_files(directory: Path) -> dict[str, Path]:
    if not directory.is_dir():
        return {}
    return {p.name: p for p in sorted(directory.iterdir()) if p.is_file() and p.name.endswith(GENERATED_SUFFIXES)}


def check(fresh_dir: Path) -> int:
    fresh = generated_files(fresh_dir)
    committed = generated_files(OUT_DIR)
    problems = 0
    for name in sorted(set(fresh) | set(committed)):
        if name not in committed:
            print(f"missing: {OUT_DIR.relative_to(ROOT) / name}")
            problems += 1
        elif name not in fresh:
            print(f"stale (no .proto generates it): {OUT_DIR.relative_to(ROOT) / name}")
            problems += 1
        else:
            new = fresh[name].read_text(encoding="utf-8")
            old = committed[name].read_text(encoding="utf-8")
            if new != old:
                problems += 1
                print(f"out of date: {OUT_DIR.relative_to(ROOT) / name}")
                diff = difflib.unified_diff(old.splitlines(True), new.splitlines(True), "committed", "regenerated", n=1)
                for line in list(diff)[:40]:
                    line = line.rstrip("\n")
                    print(line if len(line) <= 160 else line[:157] + "...")
    if problems:
        print(f"{problems} generated file(s) differ; run: python tools/gen_protos.py")
        return 1
    print(f"OK: {len(committed)} generated files are up to date")
    return 0


def write(fresh_dir: Path) -> int:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    fresh = generated_files(fresh_dir)
    for name, path in generated_files(OUT_DIR).items():
        if name not in fresh:
            path.unlink()
            print(f"removed stale {name}")
    for name, path in fresh.items():
        shutil.copyfile(path, OUT_DIR / name)
    print(f"wrote {len(fresh)} files to {OUT_DIR.relative_to(ROOT)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--check",
        action="store_true",
        help="regenerate into a temp dir and exit 1 if the committed files differ",
    )
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fastmeta-protos-") as tmp:
        run_protoc(Path(tmp))
        fresh_dir = Path(tmp) / PROTO_PKG
        return check(fresh_dir) if args.check else write(fresh_dir)


if __name__ == "__main__":
    sys.exit(main())
