"""spark-submit entry point of the pipeline job (the main job); `sparkgraph run pipeline --help` lists its parameters.

    spark-submit --py-files dist/sparkgraph.zip jobs/pipeline.py --input.path edges.tsv --output.path out/pipeline
"""

import sys

from sparkgraph.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "pipeline", *sys.argv[1:]]))
