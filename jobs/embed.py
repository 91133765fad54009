"""spark-submit entry point of the embed job; `sparkgraph run embed --help` lists its parameters.

    spark-submit --py-files dist/sparkgraph.zip jobs/embed.py --input.path edges.tsv --output.path out/embed
"""

import sys

from sparkgraph.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "embed", *sys.argv[1:]]))
