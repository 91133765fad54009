"""spark-submit entry point of the kmedoids job; `sparkgraph run kmedoids --help` lists its parameters.

    spark-submit --py-files dist/sparkgraph.zip jobs/kmedoids.py --input.path edges.tsv --output.path out/kmedoids
"""

import sys

from sparkgraph.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "kmedoids", *sys.argv[1:]]))
