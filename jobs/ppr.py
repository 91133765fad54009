"""spark-submit entry point of the ppr job; `sparkgraph run ppr --help` lists its parameters.

    spark-submit --py-files dist/sparkgraph.zip jobs/ppr.py --input.path edges.tsv --output.path out/ppr
"""

import sys

from sparkgraph.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "ppr", *sys.argv[1:]]))
