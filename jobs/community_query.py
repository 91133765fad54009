"""spark-submit entry point of the community_query job; `sparkgraph run community_query --help` lists its parameters.

    spark-submit --py-files dist/sparkgraph.zip jobs/community_query.py --output.path out/community_query
"""

import sys

from sparkgraph.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "community_query", *sys.argv[1:]]))
