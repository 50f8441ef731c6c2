rule distance_matrix:
    input:
        batches="results/batches/{dataset}/tokens.zarr",
        embeddings=get_embeddings,
    output:
        directory(paths.DISTANCES),
    log:
        "logs/distance_matrix/{dataset}.log",
    conda:
        "../envs/task2vec.yaml"
    params:
        identity=get_embedding_identity,
    script:
        "../scripts/distance_matrix.py"


rule cross_distance_matrix:
    input:
        unpack(get_cross_inputs),
    output:
        directory(paths.CROSS_DISTANCES),
    log:
        "logs/cross_distance_matrix/{a}/{b}.log",
    conda:
        "../envs/task2vec.yaml"
    params:
        identity_a=get_identity_a,
        identity_b=get_identity_b,
    script:
        "../scripts/cross_distance_matrix.py"
