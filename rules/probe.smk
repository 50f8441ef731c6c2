rule build_probe:
    output:
        directory("results/probe"),
    log:
        "logs/build_probe.log",
    conda:
        "../envs/task2vec.yaml"
    params:
        build=CONFIG["probe"]["build"],
    script:
        "../scripts/build_probe.py"
