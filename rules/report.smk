rule diversity_report:
    input:
        datasets=expand(paths.DISTANCES, dataset=DATASETS),
        pools=get_pool_cross_matrices,
        noise=noise_floors_of(DATASETS),
        regime=expand("results/regime/{dataset}.csv", dataset=TEXT_DATASETS),
    output:
        table=report(
            "results/report/diversity.csv",
            caption="../report/diversity.rst",
            category="Diversity coefficient",
        ),
        markdown="results/report/diversity.md",
        html=report(
            "results/report/diversity.html",
            caption="../report/diversity.rst",
            category="Diversity coefficient",
        ),
        headline=report(
            "results/report/diversity.png",
            caption="../report/headline.rst",
            category="Diversity coefficient",
        ),
        figure=report(
            "results/report/distance_histograms.png",
            caption="../report/histograms.rst",
            category="Diversity coefficient",
        ),
        decomposition=report(
            "results/report/decomposition.csv",
            caption="../report/decomposition.rst",
            category="Noise floor and Fisher regime",
        ),
        decomposition_markdown="results/report/decomposition.md",
        configfiles=paths.CONFIG_RECORD,
        # the compact table as HTML, which report/workflow.rst puts on the report's first page
        answer="results/report/answer.html",
        decomposition_figure=report(
            "results/report/decomposition.png",
            caption="../report/decomposition.rst",
            category="Noise floor and Fisher regime",
        ),
    log:
        "logs/diversity_report.log",
    conda:
        "../envs/task2vec.yaml"
    params:
        datasets=DATASETS,
        pools={name: pool["datasets"] for name, pool in POOLS.items()},
        paper=PAPER_DIVERSITY,
        report=CONFIG["report"],
        fisher_samples=CONFIG["task2vec"]["fisher_samples"],
        configfiles=CONFIG_FILES,
        noise_datasets=[d for d in DATASETS if d in NOISE_DATASETS],
        regime_datasets=TEXT_DATASETS,
    script:
        "../scripts/diversity_report.py"


rule alignment_report:
    input:
        matrices=get_alignment_matrices,
        noise=noise_floors_of(
            dict.fromkeys(ALIGNMENT.get("train", []) + ALIGNMENT.get("eval", []))
        ),
    output:
        table=report(
            "results/report/alignment.csv",
            caption="../report/alignment.rst",
            category="Alignment coefficient",
        ),
        layout="results/report/alignment_table.csv",
        markdown="results/report/alignment.md",
        html=report(
            "results/report/alignment.html",
            caption="../report/alignment.rst",
            category="Alignment coefficient",
        ),
        figure=report(
            "results/report/alignment_heatmap.png",
            caption="../report/alignment.rst",
            category="Alignment coefficient",
        ),
    log:
        "logs/alignment_report.log",
    conda:
        "../envs/task2vec.yaml"
    params:
        pairs=[
            (a, b)
            for a in ALIGNMENT.get("train", [])
            for b in ALIGNMENT.get("eval", [])
        ],
        noise_datasets=[
            d
            for d in dict.fromkeys(
                ALIGNMENT.get("train", []) + ALIGNMENT.get("eval", [])
            )
            if d in NOISE_DATASETS
        ],
        report=CONFIG["report"],
    script:
        "../scripts/alignment_report.py"


rule sweep_report:
    input:
        diversity="results/report/diversity.csv",
    output:
        points=report(
            "results/report/sweeps.csv",
            caption="../report/sweeps.rst",
            category="GINC sweeps",
        ),
        fits="results/report/sweep_fits.csv",
        figure=report(
            "results/report/sweeps.png",
            caption="../report/sweeps.rst",
            category="GINC sweeps",
        ),
    log:
        "logs/sweep_report.log",
    conda:
        "../envs/task2vec.yaml"
    params:
        sweeps=SWEEPS,
    script:
        "../scripts/sweep_report.py"
