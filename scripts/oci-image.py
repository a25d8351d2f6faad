# Writes an OCI image layout tarball from a root file system directory
# (no registry): oci-image.py ROOTFS OUT.tar REF CMD...
import sys, os, io, json, tarfile, hashlib, gzip
rootfs, out, ref, cmd = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode='w') as t:
    for dp, dns, fns in os.walk(rootfs):
        for n in sorted(dns + fns):
            p = os.path.join(dp, n); t.add(p, arcname=os.path.relpath(p, rootfs), recursive=False)
layer = buf.getvalue(); diff_id = 'sha256:' + hashlib.sha256(layer).hexdigest()
blobs = {}
def blob(b):
    d = hashlib.sha256(b).hexdigest(); blobs[d] = b; return 'sha256:' + d, len(b)
ld, ls = blob(layer)
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Entrypoint": cmd, "Env": ["PATH=/bin"]},
                  "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
cd, cs = blob(cfg)
man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
  "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
  "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": ls}]}).encode()
md, ms = blob(man)
idx = json.dumps({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
  "digest": md, "size": ms, "annotations": {"org.opencontainers.image.ref.name": ref, "io.containerd.image.name": ref}}]}).encode()
with tarfile.open(out, 'w') as t:
    def add(name, data):
        ti = tarfile.TarInfo(name); ti.size = len(data); t.addfile(ti, io.BytesIO(data))
    add('oci-layout', b'{"imageLayoutVersion":"1.0.0"}'); add('index.json', idx)
    for d, b in blobs.items(): add('blobs/sha256/' + d, b)
