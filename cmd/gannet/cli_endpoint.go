// gannet endpoint apply and delete: endpoints made through the API. A file
// of endpoints (YAML or JSON; one, a list, several YAML documents, or a
// configuration's workloadEndpoints) is read and checked whole, then each
// endpoint is PUT in order and the daemon's answer printed: created,
// configured, or its field errors.

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/gannet-net/gannet/ctl/api"
)

func newEndpointCmd(o *apiOpts) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "endpoint",
		Short: "create, replace or delete workload endpoints through the API",
		Long: `Endpoints made through the API live until deleted or until gannet stops; a
reload never touches them. A name the configuration file also defines is an
error. "gannet endpoints" lists them all.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newEndpointApplyCmd(o), newEndpointDeleteCmd(o))
	return cmd
}

// applied is what -o json|yaml prints for each endpoint apply or delete
// touched.
type applied struct {
	Name   string           `json:"name" yaml:"name"`
	Result string           `json:"result" yaml:"result"` // created, configured, deleted, failed
	Errors []api.FieldError `json:"errors,omitempty" yaml:"errors,omitempty"`
}

func newEndpointApplyCmd(o *apiOpts) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "create or replace endpoints from a YAML or JSON file (- for stdin)",
		Long: `Reads endpoints from FILE (- reads stdin): YAML or JSON, one endpoint, a list,
several YAML documents, or a mapping with a workloadEndpoints list. Each
endpoint has the shape of a workloadEndpoints entry of the configuration:

  name: web-1
  interface: tap-web1
  mac: "02:00:00:00:01:05"
  ipNetworks: [10.0.1.5/32, "fd00:1::5/128"]
  addressSpace: 0
  labels: {app: web}
  profiles: [web]

The whole file is checked before anything is sent; then each endpoint is
created or replaced in order, and apply prints "endpoint NAME created" or
"configured", or the problems the daemon found, by field (exit status 1).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			eps, err := readEndpointFile(cmd.InOrStdin(), file)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			var (
				results []applied
				errs    []error
			)
			for _, ep := range eps {
				created, err := c.PutEndpoint(cmd.Context(), ep)
				var apiErr *api.Error
				if err != nil && !errors.As(err, &apiErr) {
					return err // the daemon is not there: no point going on
				}
				r := applied{Name: ep.Name, Result: "configured"}
				switch {
				case err != nil:
					r.Result, r.Errors = "failed", apiErr.Errors
					errs = append(errs, fmt.Errorf("endpoint %s: %w", ep.Name, err))
				case created:
					r.Result = "created"
				}
				results = append(results, r)
				if o.output == outTable && err == nil {
					fmt.Fprintf(w, "endpoint %s %s\n", r.Name, r.Result)
				}
			}
			if o.output != outTable {
				if err := printObject(w, o.output, results); err != nil {
					return err
				}
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().StringVarP(&file, "filename", "f", "", "file of endpoints, YAML or JSON (- for stdin)")
	cmd.MarkFlagRequired("filename")
	return cmd
}

func newEndpointDeleteCmd(o *apiOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME...",
		Short: "delete endpoints made through the API",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			var (
				results []applied
				errs    []error
			)
			for _, name := range args {
				err := c.DeleteEndpoint(cmd.Context(), name)
				var apiErr *api.Error
				if err != nil && !errors.As(err, &apiErr) {
					return err
				}
				r := applied{Name: name, Result: "deleted"}
				if err != nil {
					r.Result, r.Errors = "failed", apiErr.Errors
					errs = append(errs, endpointError(name, err))
				} else if o.output == outTable {
					fmt.Fprintf(w, "endpoint %s deleted\n", name)
				}
				results = append(results, r)
			}
			if o.output != outTable {
				if err := printObject(w, o.output, results); err != nil {
					return err
				}
			}
			return errors.Join(errs...)
		},
	}
}

// readEndpointFile reads path (- is stdin) with readEndpoints.
func readEndpointFile(stdin io.Reader, path string) ([]api.Endpoint, error) {
	var (
		data []byte
		err  error
	)
	if path == "-" {
		data, err = io.ReadAll(stdin)
		path = "stdin"
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	return readEndpoints(path, data)
}

// readEndpoints parses a file of endpoints, YAML or JSON (told apart by
// its first character), and checks that each has a name, used once. The
// read-only fields (source, state) are dropped, so what "gannet endpoints
// -o yaml" prints applies as it is.
func readEndpoints(name string, data []byte) ([]api.Endpoint, error) {
	var (
		eps []api.Endpoint
		err error
	)
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		eps, err = readEndpointsJSON(trimmed)
	} else {
		eps, err = readEndpointsYAML(data)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(eps) == 0 {
		return nil, fmt.Errorf("%s holds no endpoints", name)
	}
	seen := make(map[string]int, len(eps))
	for i := range eps {
		ep := &eps[i]
		if ep.Name == "" {
			return nil, fmt.Errorf("%s: endpoint %d has no name", name, i+1)
		}
		if j, dup := seen[ep.Name]; dup {
			return nil, fmt.Errorf("%s: endpoints %d and %d are both named %s", name, j+1, i+1, ep.Name)
		}
		seen[ep.Name] = i
		ep.Source, ep.State = "", ""
	}
	return eps, nil
}

func readEndpointsJSON(data []byte) ([]api.Endpoint, error) {
	var eps []api.Endpoint
	dec := json.NewDecoder(bytes.NewReader(data))
	for n := 1; ; n++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err == io.EOF {
			return eps, nil
		} else if err != nil {
			return nil, err
		}
		if raw[0] == '{' {
			var wrapper map[string]json.RawMessage
			if json.Unmarshal(raw, &wrapper) == nil {
				if list, ok := wrapper["workloadEndpoints"]; ok && len(wrapper) == 1 {
					raw = list
				}
			}
		}
		var more []api.Endpoint
		if raw[0] == '[' {
			if err := strictJSON(raw, &more); err != nil {
				return nil, fmt.Errorf("value %d: %w", n, err)
			}
		} else {
			var ep api.Endpoint
			if err := strictJSON(raw, &ep); err != nil {
				return nil, fmt.Errorf("value %d: %w", n, err)
			}
			more = []api.Endpoint{ep}
		}
		eps = append(eps, more...)
	}
}

func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// endpointFields are the YAML keys of an endpoint.
var endpointFields = func() map[string]bool {
	m := map[string]bool{}
	t := reflect.TypeFor[api.Endpoint]()
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag != "" {
			m[tag] = true
		}
	}
	return m
}()

func readEndpointsYAML(data []byte) ([]api.Endpoint, error) {
	var eps []api.Endpoint
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err == io.EOF {
			return eps, nil
		} else if err != nil {
			return nil, err
		}
		if len(doc.Content) == 0 {
			continue
		}
		n := doc.Content[0]
		if n.Kind == yaml.MappingNode && len(n.Content) == 2 && n.Content[0].Value == "workloadEndpoints" {
			n = n.Content[1]
		}
		items := []*yaml.Node{n}
		if n.Kind == yaml.SequenceNode {
			items = n.Content
		}
		for _, it := range items {
			if it.Kind != yaml.MappingNode {
				return nil, fmt.Errorf("line %d: an endpoint is a mapping (name: ..., interface: ...), not %s", it.Line, it.ShortTag())
			}
			for i := 0; i+1 < len(it.Content); i += 2 {
				if k := it.Content[i]; !endpointFields[k.Value] {
					return nil, fmt.Errorf("line %d: unknown field %q in an endpoint", k.Line, k.Value)
				}
			}
			var ep api.Endpoint
			if err := it.Decode(&ep); err != nil {
				return nil, err
			}
			eps = append(eps, ep)
		}
	}
}
