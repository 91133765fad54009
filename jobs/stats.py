"""spark-submit entry point of the stats job; `sparkgraph run stats --help` lists its parameters.

    spark-submit --py-files dist/sparkgraph.zip jobs/stats.py --input.path edges.tsv --output.path out/stats
"""

import sys

from sparkgraph.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "stats", *sys.argv[1:]]))
