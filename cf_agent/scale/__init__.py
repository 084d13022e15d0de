"""Scale-out: `cf-agent run` batches split into shards that run on Ray workers."""
