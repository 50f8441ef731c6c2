rule build_probe:
    output:
        directory("results/probe"),
    log:
        "logs/build_probe.log",
    params:
        build=CONFIG["probe"]["build"],
    conda:
        "../envs/task2vec.yaml"
    script:
        "../scripts/build_probe.py"
