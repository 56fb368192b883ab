"""Compile neuronkit/serve/protos/*.proto into the committed descriptor set messages.binpb.

    python tools/gen_protos.py          # rewrite messages.binpb
    python tools/gen_protos.py --check  # exit 1 if messages.binpb is not what the .proto files give

Needs grpcio-tools (its bundled protoc and google/protobuf/*.proto); the server only needs protobuf.
The set is built with --include_imports, so any.proto and wrappers.proto travel with it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "neuronkit" / "serve" / "protos"
OUTPUT = PROTO_DIR / "messages.binpb"


def build() -> bytes:
    """The serialized FileDescriptorSet of every .proto under PROTO_DIR, dependencies first."""
    import grpc_tools
    from google.protobuf import descriptor_pb2
    from grpc_tools import protoc

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    sources = sorted(str(p.relative_to(ROOT)) for p in PROTO_DIR.glob("*.proto"))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.binpb"
        args = ["protoc", f"-I{ROOT}", f"-I{well_known}", f"--descriptor_set_out={out}", "--include_imports", *sources]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed (its messages are above)")
        descriptor_set = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    for file in descriptor_set.file:
        # The well-known protos' options (java_package, go_package, ...) change between protoc
        # releases and mean nothing to Python; dropping them keeps --check stable across versions.
        if file.name.startswith("google/protobuf/"):
            file.ClearField("options")
    return descriptor_set.SerializeToString(deterministic=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed file instead of writing it")
    args = parser.parse_args(argv)
    fresh = build()
    if args.check:
        if not OUTPUT.exists() or OUTPUT.read_bytes() != fresh:
            print(f"{os.path.relpath(OUTPUT, ROOT)} is stale: run python tools/gen_protos.py", file=sys.stderr)
            return 1
        print(f"{os.path.relpath(OUTPUT, ROOT)} is up to date")
        return 0
    OUTPUT.write_bytes(fresh)
    print(f"wrote {os.path.relpath(OUTPUT, ROOT)} ({len(fresh)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
