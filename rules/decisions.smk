rule downstream_report:
    input:
        unpack(get_downstream_inputs),
    output:
        joined="results/report/downstream_joined.csv",
        fits=report(
            "results/report/downstream_fits.csv",
            caption="../report/downstream.rst",
            category="Downstream performance",
        ),
        markdown="results/report/downstream_fits.md",
        alignment_figure=report(
            "results/report/downstream_alignment.png",
            caption="../report/downstream.rst",
            category="Downstream performance",
        ),
        diversity_figure=report(
            "results/report/downstream_diversity.png",
            caption="../report/downstream.rst",
            category="Downstream performance",
        ),
    log:
        "logs/downstream_report.log",
    conda:
        "../envs/task2vec.yaml"
    params:
        downstream=DOWNSTREAM,
    script:
        "../scripts/downstream_report.py"


rule baselines_report:
    input:
        matrices=expand(paths.DISTANCES, dataset=TEXT_DATASETS),
        batches=expand("results/batches/{dataset}/tokens.zarr", dataset=TEXT_DATASETS),
        activations=expand("results/activations/{dataset}.zarr", dataset=TEXT_DATASETS),
    output:
        table=report(
            "results/report/baselines.csv",
            caption="../report/baselines.rst",
            category="Baselines",
        ),
        agreement=report(
            "results/report/baselines_agreement.csv",
            caption="../report/baselines.rst",
            category="Baselines",
        ),
        markdown="results/report/baselines.md",
        html=report(
            "results/report/baselines.html",
            caption="../report/baselines.rst",
            category="Baselines",
        ),
        figure=report(
            "results/report/baselines.png",
            caption="../report/baselines.rst",
            category="Baselines",
        ),
    log:
        "logs/baselines_report.log",
    conda:
        "../envs/task2vec.yaml"
    params:
        datasets=TEXT_DATASETS,
        baselines=BASELINES,
        report=CONFIG["report"],
    script:
        "../scripts/baselines_report.py"


rule selection_report:
    input:
        matrices=get_selection_matrices,
        manifests=get_selection_manifests,
    output:
        sources=report(
            "results/report/selection_sources.csv",
            caption="../report/selection.rst",
            category="Data selection",
        ),
        batches="results/report/selection_batches.csv",
        documents="results/report/selected_documents.tsv",
        summary="results/report/selection_summary.csv",
        markdown="results/report/selection.md",
        figure=report(
            "results/report/selection.png",
            caption="../report/selection.rst",
            category="Data selection",
        ),
    log:
        "logs/selection_report.log",
    conda:
        "../envs/task2vec.yaml"
    params:
        selection=SELECTION,
        pairs=SELECTION_PAIRS,
    script:
        "../scripts/selection_report.py"
