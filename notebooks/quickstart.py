# Databricks notebook source
# MAGIC %md
# MAGIC # sparkgraph quick start
# MAGIC Build a graph, look at its facts, compare with the exact local twin, and write results atomically.
# MAGIC On Databricks, install the wheel on the cluster (`%pip install sparkgraph-*.whl`); the active
# MAGIC session is reused. Locally this file runs as plain Python: `python notebooks/quickstart.py`.

# COMMAND ----------

import os
import tempfile

from sparkgraph import Graph, get_session
from sparkgraph.datasets import load_edges, load_local
from sparkgraph.output import atomic_output, read_manifest

spark = get_session()  # the notebook's `spark` when there is one

# COMMAND ----------

# MAGIC %md ## A graph from an edges DataFrame (any id type; GraphFrame users pass `gf.edges`, `gf.vertices`)

# COMMAND ----------

edges = load_edges(spark, "karate")
graph = Graph.from_edges(edges, directed=False, weight="weight")
facts = graph.stats()
print(graph, facts)

# COMMAND ----------

# MAGIC %md ## The same graph on the driver, for exact references

# COMMAND ----------

local = load_local("karate")
assert (local.n, local.m) == (graph.n, graph.m)
top = graph.out_degrees().orderBy("weighted_out_degree", ascending=False).limit(3)
display_frame = graph.to_names(top, "id")
display_frame.show()

# COMMAND ----------

# MAGIC %md ## Personalized PageRank: top neighbours from weighted walks, checked against the exact twin

# COMMAND ----------

from sparkgraph.local.ppr import exact_ppr  # noqa: E402
from sparkgraph.ppr import PPRParams, fully_ppr  # noqa: E402

ppr = fully_ppr(graph, PPRParams(walks_per_source=2000, top_k=5, seed=1), sources=[1, 34]).toPandas()
print(ppr.sort_values(["source", "score"], ascending=[True, False]))
exact = exact_ppr(local, local.ids_of([34]))[0]
best = local.names[exact.argsort()[::-1][:3]].tolist()
print("exact top 3 of 34:", best, "estimated:", ppr[ppr.source == 34].nlargest(3, "score").target.tolist())

# COMMAND ----------

# MAGIC %md ## FastRP embeddings: equal to the local twin, and the nearest members of a vertex

# COMMAND ----------

import numpy as np  # noqa: E402

from sparkgraph.embed import FastRPParams, fastrp, nearest  # noqa: E402
from sparkgraph.embed.evaluate import collect_embedding  # noqa: E402
from sparkgraph.local.fastrp import fastrp as local_fastrp  # noqa: E402

params = FastRPParams(dimension=32, seed=1)
embeddings = fastrp(graph, params).cache()
assert np.allclose(collect_embedding(embeddings, local.names), local_fastrp(local, params), atol=1e-5)
nearest(embeddings, [1, 34], k=3).orderBy("query", "rank").show()

# COMMAND ----------

# MAGIC %md ## k-medoids: two medoids of the embedding (real vertices), the same as the local twin's

# COMMAND ----------

from sparkgraph.cluster import KMedoidsParams, kmedoids  # noqa: E402
from sparkgraph.local.kmedoids import kmedoids as local_kmedoids  # noqa: E402

km_params = KMedoidsParams(k=2, metric="cosine")
clusters = kmedoids(embeddings, km_params)  # partitioned FasterPAM; CLARA with method="clara"
print(clusters.medoids.to_string(index=False), "\ntotal deviation", round(clusters.loss, 4))
assert list(clusters.medoids["medoid"]) == list(local_kmedoids(embeddings.toPandas(), km_params).medoids["medoid"])
clusters.assignments.orderBy("id").show(5)  # (id, cluster, medoid, distance)
clusters.unpersist()

# COMMAND ----------

# MAGIC %md ## Communities: a MinHash + LSH index built on Spark, and a community grown from two seeds in this process

# COMMAND ----------

from sparkgraph.community.index import CommunityIndex, build_community_index  # noqa: E402
from sparkgraph.community.params import CommunityIndexParams  # noqa: E402

notebook_out = os.environ.get("SPARKGRAPH_NOTEBOOK_OUT")
index_path = notebook_out + "-community-index" if notebook_out else os.path.join(tempfile.mkdtemp(), "karate_index")
facts = build_community_index(graph, index_path, CommunityIndexParams(), mode="overwrite")
index = CommunityIndex.load(index_path, spark=spark)  # numpy arrays here; read through Spark when remote
community = index.query([1, 2], size=8)  # (id, score, step): the seeds, then members in the order they joined
print(f"{facts['bands']} bands x {facts['rows']} rows;", community.to_string(index=False))
assert community["id"].tolist()[:2] == [1, 2] and len(community) <= 8

# COMMAND ----------

# MAGIC %md ## Results are written atomically, with a manifest

# COMMAND ----------

target = os.environ.get("SPARKGRAPH_NOTEBOOK_OUT") or os.path.join(tempfile.mkdtemp(), "karate_degrees")
with atomic_output(spark, target, mode="overwrite", job="quickstart") as out:
    out.write_table("degrees", graph.to_names(graph.out_degrees(), "id"))
print(read_manifest(spark, target)["outputs"])
