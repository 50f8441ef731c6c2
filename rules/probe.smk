rule build_probe:
    input:
        base=get_build_base,
    output:
        directory("results/probe/{probe}"),
    log:
        "logs/build_probe/{probe}.log",
    conda:
        "../envs/task2vec.yaml"
    resources:
        mem_mb=doubled_on_retry(CPU_JOB_MB),
        runtime=doubled_on_retry(CPU_JOB_MINUTES),
    params:
        build=get_probe_build,
    script:
        "../scripts/build_probe.py"
