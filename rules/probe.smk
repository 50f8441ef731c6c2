rule build_probe:
    output:
        directory("results/probe"),
    params:
        build=CONFIG["probe"]["build"],
    log:
        "logs/build_probe.log",
    script:
        "../scripts/build_probe.py"
