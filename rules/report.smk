rule diversity_report:
    input:
        expand("results/distances/{dataset}.zarr", dataset=DATASETS),
    output:
        table=report(
            "results/report/diversity.csv",
            caption="../report/diversity.rst",
            category="Diversity coefficient",
        ),
        markdown="results/report/diversity.md",
        figure=report(
            "results/report/distance_histograms.png",
            caption="../report/histograms.rst",
            category="Diversity coefficient",
        ),
    log:
        "logs/diversity_report.log",
    conda:
        "../envs/task2vec.yaml"
    params:
        datasets=DATASETS,
        bootstrap=CONFIG["report"],
    script:
        "../scripts/diversity_report.py"
