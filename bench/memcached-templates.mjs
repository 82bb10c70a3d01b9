// The original's memcached listens in both template languages, after a header of the caller's:
// confd_haproxy's memcached.conf.tmpl (Go, its range unchanged) and the same in Handlebars (block
// tags alone on a line leave no line, hence the blank lines). Both write the same bytes.
export const memcachedGoTemplate = (header) => `${header}{{range gets "/haproxy/memcached/*"}}
{{$data := json .Value}}
listen {{$data.name}} 0.0.0.0:{{$data.proxyport}}
    mode tcp
    balance roundrobin
    option tcplog
    option tcp-smart-connect
    option tcp-check
    server {{$data.name}}-memcached {{$data.host}}:{{$data.port}} check fall 3 rise 2 maxconn 1000
    option tcpka
{{end}}
`;
export const memcachedHbsTemplate = (header) => `${header}{{#each (gets "/haproxy/memcached/*")}}
{{#with (json Value)}}


listen {{name}} 0.0.0.0:{{proxyport}}
    mode tcp
    balance roundrobin
    option tcplog
    option tcp-smart-connect
    option tcp-check
    server {{name}}-memcached {{host}}:{{port}} check fall 3 rise 2 maxconn 1000
    option tcpka
{{/with}}
{{/each}}

`;
