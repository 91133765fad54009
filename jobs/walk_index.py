"""spark-submit entry point of the walk_index job; `sparkgraph run walk_index --help` lists its parameters.

    spark-submit --py-files dist/sparkgraph.zip jobs/walk_index.py --input.path edges.tsv --output.path out/index
"""

import sys

from sparkgraph.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "walk_index", *sys.argv[1:]]))
