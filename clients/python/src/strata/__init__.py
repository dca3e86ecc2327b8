"""Strata Python SDK: a gRPC client of the Strata feature store.

    import strata
    client = strata.Client("127.0.0.1:7400")
    client.apply("features.yaml")
    client.write("user_stats", df)
    client.push("purchases", events_df)          # events to a stream
    with client.push_session("purchases") as session:  # one open call for many small pushes
        session.push(events_df)
    client.lineage("user_stats")                 # upstream, downstream and writers of a group version
    client.get_online_features(["user_stats:*"], ["u1", "u2"]).to_df()
    client.get_historical_features(labels_df, ["user_stats:purchases_30d"]).to_df()
    client.get_historical_features(labels_df, ["user_stats:*"], training_set="churn-2024-06").to_df()
    client.register_model("churn", training_set="churn-2024-06")          # the set's pinned columns
    client.get_online_features(entities=["u1"], model="churn@1").to_df()  # serve by model
"""
from ._columns import Status
from .cache import CacheStats, GroupTTL, OnlineCache, Tier, freshness_tier
from .client import (ApplyResult, Client, ClusterNode, GroupWriteStatus, LineageGraph, LineageNode, NodeLimits,
                     NodeStatus, PushResult, WriteRecord, WriteResult, Writer)
from .definitions import (FLOAT, INT, STRING, Aggregate, AggregateFunction, AggregateGroup, DType, Embedding,
                          EntityType, Feature, FeatureGroup, Field, GroupKind, GroupStatus, Lineage, RegisteredGroup,
                          StatusChange, Stream, load_definitions, parse_definitions)
from .errors import (AlreadyExists, Cancelled, DeadlineExceeded, FailedPrecondition, Internal, InvalidArgument,
                     NotFound, ResourceExhausted, StrataError, Unavailable, Unimplemented)
from .models import Model, ModelStatus, ModelStatusChange, TrainingSet
from .results import ExportSummary, OnlineResponse, RetrievalJob
from .session import PendingPush, PushSession

PRESENT = Status.PRESENT
DEFAULTED = Status.DEFAULTED
MISSING = Status.MISSING
EXPIRED = Status.EXPIRED

__version__ = "0.1.0"

__all__ = [
    "Client", "OnlineCache", "CacheStats", "GroupTTL", "Tier", "freshness_tier", "ApplyResult", "WriteResult", "PushResult", "PushSession", "PendingPush", "NodeStatus", "NodeLimits", "GroupWriteStatus", "ClusterNode",
    "Feature", "FeatureGroup", "RegisteredGroup", "DType", "FLOAT", "INT", "STRING", "Embedding", "EntityType",
    "GroupStatus", "StatusChange", "load_definitions", "parse_definitions", "Stream", "Field", "AggregateGroup", "Aggregate",
    "AggregateFunction", "GroupKind", "Lineage", "Writer", "LineageGraph", "LineageNode", "WriteRecord",
    "Model", "ModelStatus", "ModelStatusChange", "TrainingSet",
    "OnlineResponse", "RetrievalJob", "ExportSummary", "Status", "PRESENT", "DEFAULTED", "MISSING", "EXPIRED",
    "StrataError", "InvalidArgument", "NotFound", "AlreadyExists", "FailedPrecondition", "ResourceExhausted",
    "Unavailable", "DeadlineExceeded", "Cancelled", "Unimplemented", "Internal",
]
