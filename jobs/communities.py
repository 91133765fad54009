"""spark-submit entry point of the communities job; `sparkgraph run communities --help` lists its parameters.

    spark-submit --py-files dist/sparkgraph.zip jobs/communities.py --output.path out/communities
"""

import sys

from sparkgraph.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "communities", *sys.argv[1:]]))
