#!/usr/bin/env python3
"""Zips the Python peer as it would be deployed: handler.py and the
distributions the Lambda Python runtime does not bring (Powertools and its
typing_extensions; boto3, botocore and jmespath come with the runtime).

Usage: VENV/bin/python bench/python/package.py VENV OUT.zip
"""
import pathlib
import sys
import zipfile
from importlib.metadata import distribution

BUNDLED = ["aws-lambda-powertools", "typing_extensions"]


def main() -> None:
    out = pathlib.Path(sys.argv[2])
    here = pathlib.Path(__file__).parent
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(here / "handler.py", "handler.py")
        for name in BUNDLED:
            dist = distribution(name)
            for f in dist.files or []:
                if f.suffix == ".pyc" or "__pycache__" in f.parts:
                    continue
                z.write(f.locate(), str(f))
    print(f"python peer package: {out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
