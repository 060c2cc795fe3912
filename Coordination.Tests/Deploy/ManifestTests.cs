using System.Globalization;
using Coordination.Silo;
using Coordination.Silo.Backup;
using Xunit.Abstractions;

namespace Coordination.Tests.Deploy;

/// <summary>
/// The Kubernetes manifests checked without a cluster: they parse, refer to each other consistently
/// (names, labels, selectors, ports), and agree with the silo (its default ports 5080/5090, its probe
/// paths, the settings it binds). kubectl and yamllint run when installed.
/// </summary>
public sealed class ManifestTests(ITestOutputHelper output)
{
    private static readonly string[] Labels = ["app.kubernetes.io/name", "app.kubernetes.io/component"];

    private static IReadOnlyList<Dictionary<string, object?>> All { get; } = Directory
        .EnumerateFiles(DeployPaths.K8s, "*.yaml")
        .Where(f => Path.GetFileName(f) != "kustomization.yaml")
        .Order(StringComparer.Ordinal)
        .SelectMany(f => SimpleYaml.ReadDocuments(File.ReadAllText(f), Path.GetFileName(f)))
        .ToList();

    private static Dictionary<string, object?> StatefulSet => One("StatefulSet", "coordination");

    private static Dictionary<string, object?> Silo => (Dictionary<string, object?>)StatefulSet.Seq("spec", "template", "spec", "containers").Single()!;

    private static SiloAddress Defaults => new SiloOptions().ParseMembers().Single();

    [Fact]
    public void The_kustomization_lists_every_manifest_and_every_manifest_exists()
    {
        var kustomization = SimpleYaml.ReadDocuments(File.ReadAllText(Path.Combine(DeployPaths.K8s, "kustomization.yaml")), "kustomization.yaml").Single();
        var listed = kustomization.Seq("resources").Cast<string>().Order(StringComparer.Ordinal).ToList();
        var present = Directory.EnumerateFiles(DeployPaths.K8s, "*.yaml").Select(f => Path.GetFileName(f)!).Where(f => f != "kustomization.yaml").Order(StringComparer.Ordinal).ToList();
        Assert.Equal(present, listed);
        Assert.All(All, d => Assert.False(string.IsNullOrEmpty(d.Text("kind")), "a document without kind"));
        Assert.Equal(All.Count, All.Select(d => (d.Text("kind"), d.Text("metadata", "name"))).Distinct().Count());
        Assert.Equal("coordination", kustomization.Text("images", 0, "name"));
        Assert.Equal("coordination", Silo.Text("image"));
    }

    [Fact]
    public void Container_ports_are_the_silo_defaults_and_every_service_targets_them()
    {
        Assert.Equal("http://127.0.0.1:5080", Defaults.ClientUrl);
        Assert.EndsWith(":5090", Defaults.PeerAddress, StringComparison.Ordinal);
        var ports = ContainerPorts();
        Assert.Equal(new Dictionary<string, int> { ["client"] = 5080, ["peer"] = 5090, ["http2"] = 5070 }, ports);
        Assert.Equal("http://0.0.0.0:5080", Env("ASPNETCORE_URLS"));

        foreach (var service in All.Where(d => d.Text("kind") == "Service"))
        {
            Assert.Equal(PodLabels(), service.Labels("spec", "selector"));
            foreach (var port in service.Seq("spec", "ports"))
            {
                var target = port.Text("targetPort")!;
                Assert.True(ports.ContainsKey(target), $"{service.Text("metadata", "name")} targets unknown port {target}");
                Assert.Equal(ports[target], Int(port.Text("port")));
            }
        }

        var client = One("Service", "coordination");
        Assert.Equal(["client", "http2"], client.Seq("spec", "ports").Select(p => p.Text("name")));
        Assert.Equal("kubernetes.io/h2c", client.Seq("spec", "ports").Single(p => p.Text("name") == "http2").Text("appProtocol"));
    }

    [Fact]
    public void Probes_use_the_silo_health_endpoints_on_the_client_port()
    {
        Assert.Equal("/readyz", Silo.Text("readinessProbe", "httpGet", "path"));
        Assert.Equal("/healthz", Silo.Text("livenessProbe", "httpGet", "path"));
        Assert.Equal("/healthz", Silo.Text("startupProbe", "httpGet", "path"));
        foreach (var probe in new[] { "readinessProbe", "livenessProbe", "startupProbe" })
        {
            Assert.Equal("client", Silo.Text(probe, "httpGet", "port"));
        }
    }

    [Fact]
    public void The_members_name_every_replica_by_its_stable_dns_name_and_the_id_comes_from_the_ordinal()
    {
        var replicas = Int(StatefulSet.Text("spec", "replicas"));
        var headless = StatefulSet.Text("spec", "serviceName")!;
        var service = One("Service", headless);
        Assert.Equal("None", service.Text("spec", "clusterIP"));
        Assert.Equal("true", service.Text("spec", "publishNotReadyAddresses"));
        Assert.Equal("Parallel", StatefulSet.Text("spec", "podManagementPolicy"));
        Assert.Equal("true", Env("Coordination__NodeIdFromHostname"));

        var members = new SiloOptions { Members = Env("Coordination__Members").Replace("$(POD_NAMESPACE)", "prod", StringComparison.Ordinal) }.ParseMembers();
        Assert.Equal(replicas, members.Count);
        var env = Silo.Seq("env").Select(e => e.Text("name")).ToList();
        Assert.True(env.IndexOf("POD_NAMESPACE") < env.IndexOf("Coordination__Members"), "POD_NAMESPACE must come before the members that use it");
        for (var ordinal = 0; ordinal < replicas; ordinal++)
        {
            var pod = $"coordination-{ordinal}";
            var id = new SiloOptions { NodeIdFromHostname = true }.ApplyHostname(pod).NodeId;
            var member = members.Single(m => m.Id == id);
            var host = $"{pod}.{headless}.prod.svc";
            Assert.Equal($"http://{host}:{ContainerPorts()["client"]}", member.ClientUrl);
            Assert.Equal($"{host}:{ContainerPorts()["peer"]}", member.PeerAddress);
            Assert.Equal($"http://{host}:{ContainerPorts()["http2"]}", member.Http2Url);
        }
    }

    [Fact]
    public void Labels_and_selectors_agree_and_the_disruption_budget_keeps_a_quorum()
    {
        var pods = PodLabels();
        Assert.Equal(Labels.Order(StringComparer.Ordinal), pods.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(pods, StatefulSet.Labels("spec", "selector", "matchLabels"));

        var pdb = One("PodDisruptionBudget", "coordination");
        Assert.Equal(pods, pdb.Labels("spec", "selector", "matchLabels"));
        var replicas = Int(StatefulSet.Text("spec", "replicas"));
        var maxUnavailable = Int(pdb.Text("spec", "maxUnavailable"));
        Assert.Equal(1, maxUnavailable);
        Assert.True(replicas - maxUnavailable >= (replicas / 2) + 1, "the budget would let the cluster lose its quorum");

        var antiAffinity = StatefulSet.Seq("spec", "template", "spec", "affinity", "podAntiAffinity", "requiredDuringSchedulingIgnoredDuringExecution").Single();
        Assert.Equal(pods, antiAffinity.Labels("labelSelector", "matchLabels"));
        Assert.Equal("kubernetes.io/hostname", antiAffinity.Text("topologyKey"));
    }

    [Fact]
    public void The_network_policy_opens_the_peer_port_only_to_silos_and_the_client_ports_to_all()
    {
        var policy = One("NetworkPolicy", "coordination");
        Assert.Equal(PodLabels(), policy.Labels("spec", "podSelector", "matchLabels"));
        Assert.Equal(["Ingress"], policy.Seq("spec", "policyTypes").Cast<string>());
        var rules = policy.Seq("spec", "ingress");
        var peer = ContainerPorts()["peer"].ToString(CultureInfo.InvariantCulture);
        var peerRules = rules.Where(r => r.Seq("ports").Any(p => p.Text("port") == peer)).ToList();
        var rule = Assert.Single(peerRules);
        var from = Assert.Single(rule.Seq("from"));
        Assert.Equal(PodLabels(), from.Labels("podSelector", "matchLabels"));
        Assert.Equal(["podSelector"], ((Dictionary<string, object?>)from!).Keys);

        foreach (var name in new[] { "client", "http2" })
        {
            var port = ContainerPorts()[name].ToString(CultureInfo.InvariantCulture);
            var open = Assert.Single(rules, r => r.Seq("ports").Any(p => p.Text("port") == port));
            Assert.False(((Dictionary<string, object?>)open!).ContainsKey("from"), $"port {port} must be open to every client");
        }
    }

    [Fact]
    public void Data_is_on_a_claim_per_silo_the_root_filesystem_is_read_only_and_resources_are_bounded()
    {
        var claim = StatefulSet.Seq("spec", "volumeClaimTemplates").Single();
        var name = claim.Text("metadata", "name")!;
        var mount = Silo.Seq("volumeMounts").Single(m => m.Text("name") == name);
        Assert.Equal(Env("Coordination__DataDirectory"), mount.Text("mountPath"));
        Assert.Equal("/data", Env("Coordination__DataDirectory"));
        Assert.Equal(["ReadWriteOnce"], claim.Seq("spec", "accessModes").Cast<string>());
        Assert.NotNull(claim.Text("spec", "resources", "requests", "storage"));

        Assert.Equal("true", Silo.Text("securityContext", "readOnlyRootFilesystem"));
        Assert.Equal("false", Silo.Text("securityContext", "allowPrivilegeEscalation"));
        Assert.Equal("true", StatefulSet.Text("spec", "template", "spec", "securityContext", "runAsNonRoot"));
        Assert.Contains(Silo.Seq("volumeMounts"), m => m.Text("mountPath") == "/tmp");
        foreach (var kind in new[] { "requests", "limits" })
        {
            Assert.NotNull(Silo.Text("resources", kind, "cpu"));
            Assert.NotNull(Silo.Text("resources", kind, "memory"));
        }
    }

    [Fact]
    public void The_config_map_is_used_and_names_only_settings_the_silo_binds()
    {
        var name = Silo.Text("envFrom", 0, "configMapRef", "name")!;
        var data = One("ConfigMap", name).Labels("data");
        // Coordination__X binds SiloOptions.X; Coordination__Backup__X binds BlobBackupSettings.X.
        var bound = typeof(SiloOptions).GetProperties().Select(p => p.Name)
            .Concat(typeof(BlobBackupSettings).GetProperties().Select(p => "Backup__" + p.Name))
            .ToHashSet(StringComparer.Ordinal);
        Assert.Equal("Coordination:Backup", BlobBackupSettings.Section);
        foreach (var key in data.Keys.Concat(Silo.Seq("env").Select(e => e.Text("name")!)))
        {
            if (key.StartsWith($"{SiloOptions.Section}__", StringComparison.Ordinal))
            {
                Assert.Contains(key[(SiloOptions.Section.Length + 2)..], bound);
            }
        }

        var backup = new BlobBackupSettings
        {
            IntervalSeconds = Int(data["Coordination__Backup__IntervalSeconds"]),
            Keep = Int(data["Coordination__Backup__Keep"]),
        };
        Assert.InRange(backup.IntervalSeconds, 60, 86_400);
        Assert.InRange(backup.Keep, 1, 10_000);
        var secret = Silo.Seq("env").Single(e => e.Text("name") == "Coordination__Backup__ConnectionString");
        Assert.Equal("true", secret.Text("valueFrom", "secretKeyRef", "optional"));

        var options = new SiloOptions
        {
            TickMs = Int(data["Coordination__TickMs"]),
            ElectionTicks = Int(data["Coordination__ElectionTicks"]),
        };
        options.Validate();
    }

    [Fact]
    public void Kubectl_kustomize_builds_the_manifests()
    {
        if (RunInstalled("kubectl", "`kubectl kustomize deploy/k8s` was not checked", "kustomize", DeployPaths.K8s) is not { } built)
        {
            return;
        }

        var documents = SimpleYaml.ReadDocuments(built, "kubectl kustomize");
        Assert.Equal(All.Count, documents.Count);
        Assert.All(documents.Where(d => d.Text("kind") != "Namespace"), d => Assert.Equal("coordination", d.Text("metadata", "namespace")));
        var statefulSet = documents.Single(d => d.Text("kind") == "StatefulSet");
        Assert.Equal("coordination:dev", statefulSet.Text("spec", "template", "spec", "containers", 0, "image"));
        Assert.Equal(PodLabels(), statefulSet.Labels("spec", "selector", "matchLabels"));
    }

    [Fact]
    public void Yamllint_is_clean()
    {
        RunInstalled("yamllint", "the manifests were not linted (apt-get install -y yamllint)", "--strict", "-c", Path.Combine(DeployPaths.Deploy, ".yamllint"), DeployPaths.Deploy);
    }

    [Fact]
    public void The_reader_rejects_yaml_outside_its_subset()
    {
        Assert.Throws<FormatException>(() => SimpleYaml.ReadDocuments("a: &x 1\nb: *x\n", "t"));
        Assert.Throws<FormatException>(() => SimpleYaml.ReadDocuments("a: |\n  text\n", "t"));
        Assert.Throws<FormatException>(() => SimpleYaml.ReadDocuments("a: 1\na: 2\n", "t"));
        Assert.Throws<FormatException>(() => SimpleYaml.ReadDocuments("a:\n  b: 1\n c: 2\n", "t"));
        var doc = SimpleYaml.ReadDocuments("a:\n- x: 1 # c\n  y: \"#2\"\n- z\nb: []\n---\nc: 'q'\n", "t");
        Assert.Equal(2, doc.Count);
        Assert.Equal("1", doc[0].Text("a", 0, "x"));
        Assert.Equal("#2", doc[0].Text("a", 0, "y"));
        Assert.Equal("z", doc[0].Text("a", 1));
        Assert.Empty(doc[0].Seq("b"));
        Assert.Equal("q", doc[1].Text("c"));
    }

    /// <summary>Runs a tool that must succeed, or notes in the test output that it is not installed and returns null.</summary>
    private string? RunInstalled(string tool, string notChecked, params string[] arguments)
    {
        if (DeployPaths.Which(tool) is not { } path)
        {
            output.WriteLine($"SKIPPED: {tool} is not on PATH; {notChecked}.");
            return null;
        }

        var (exit, text) = DeployPaths.Run(path, arguments, DeployPaths.RepositoryRoot, TimeSpan.FromSeconds(60));
        Assert.True(exit == 0, $"{tool} {string.Join(' ', arguments)} exited with {exit}:\n{text}");
        return text;
    }

    private static Dictionary<string, object?> One(string kind, string name) =>
        Assert.Single(All, d => d.Text("kind") == kind && d.Text("metadata", "name") == name);

    private static Dictionary<string, string> PodLabels() => StatefulSet.Labels("spec", "template", "metadata", "labels");

    private static Dictionary<string, int> ContainerPorts() => Silo.Seq("ports").ToDictionary(p => p.Text("name")!, p => Int(p.Text("containerPort")));

    private static string Env(string name) => Silo.Seq("env").Single(e => e.Text("name") == name).Text("value")!;

    private static int Int(string? text) => int.Parse(text ?? throw new FormatException("missing number"), CultureInfo.InvariantCulture);
}
