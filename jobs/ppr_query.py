"""spark-submit entry point of the ppr_query job; `sparkgraph run ppr_query --help` lists its parameters.

    spark-submit --py-files dist/sparkgraph.zip jobs/ppr_query.py --index.path out/index --sources.path ids.txt --output.path out/top
"""

import sys

from sparkgraph.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "ppr_query", *sys.argv[1:]]))
