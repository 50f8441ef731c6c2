rule build_probe:
    input:
        base=get_build_base,
    output:
        directory("results/probe/{probe}"),
    log:
        "logs/build_probe/{probe}.log",
    conda:
        "../envs/task2vec.yaml"
    params:
        build=probe_build,
    script:
        "../scripts/build_probe.py"
