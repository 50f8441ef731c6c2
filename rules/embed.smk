# One rule per entry of EMBEDDING_JOBS (rules/common.smk): embed_shard, and a rule for each
# shard it cannot name. They differ only in their stores, log and datasets.
for name, (stores, log_name, datasets) in EMBEDDING_JOBS.items():

    rule:
        name:
            name
        input:
            # the tokens file is rewritten when batches are added; embeddings made from it stay
            # valid (each records its batch's token hash, checked by every matrix that uses it)
            batches=ancient("results/batches/{dataset}/tokens.zarr"),
            probe=get_probe_files,
        output:
            [directory(store) for store in stores],
        log:
            f"logs/embed_shard/{{dataset}}/{{key}}/{log_name}.log",
        wildcard_constraints:
            dataset="|".join(datasets) or "none",
        conda:
            "../envs/task2vec.yaml"
        threads: 1
        resources:
            # gpu: 0 or 1 (task2vec.device): --resources gpu=N locally, sbatch --gpus on SLURM
            gpu=embedding_gpus,
            mem_mb=doubled_on_retry(EMBEDDING_JOB_MB),
            runtime=doubled_on_retry(EMBEDDING_JOB_MINUTES),
            # batches fine-tuned together: how, not what (execution settings are resources, not params)
            lockstep=CONFIG["task2vec"]["lockstep"],
        params:
            # only the identity, which is in the output path: a param change never reruns it
            identity=get_embedding_identity,
        script:
            "../scripts/embed_shard.py"

    # a profile's set-resources and set-threads name embed_shard: they hold for every shard's rule
    workflow.get_rule(name).resources = workflow.get_rule("embed_shard").resources
